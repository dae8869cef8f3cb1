/* taesd.c — TAESD's decoder and encoder (taesd.h) on the engine's ops: every conv with its ReLU
 * fused, the Block's skip add fused into its last conv before the ReLU (act_after_res), each
 * Upsample + conv as one upsample_conv2d, the decoder's Clamp as one act on the latents. */
#include "taesd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/config.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != IG_OK) goto fail;                                                               \
    } while (0)

/* The Sequential indices (taesd.h): decoder blocks, upsample convs; encoder blocks, downsample convs. */
static const int dec_block_idx[IG_TAESD_DEC_BLOCKS] = {3, 4, 5, 8, 9, 10, 13, 14, 15, 18};
static const int dec_up_idx[3] = {7, 12, 17};
static const int enc_block_idx[IG_TAESD_ENC_BLOCKS] = {1, 3, 4, 5, 7, 8, 9, 11, 12, 13};
static const int enc_down_idx[3] = {2, 6, 10};

typedef enum { KEYS_PTH, KEYS_DIFFUSERS } key_style;

/* The checkpoint key of layer idx (taesd.py's numbering) of the decoder or encoder. diffusers'
 * DecoderTiny has no Clamp layer, so its indices are one less. */
static void layer_key(char *buf, size_t n, key_style s, bool dec, int idx) {
    if (s == KEYS_PTH) snprintf(buf, n, "%d", idx);
    else snprintf(buf, n, "%s.layers.%d", dec ? "decoder" : "encoder", dec ? idx - 1 : idx);
}

static ig_status load_conv(ig_weights *w, ig_conv2d *c, const char *key, int cout, int cin, bool bias, int stride,
                           ig_act act, ig_err *err) {
    const int64_t ws[4] = {cout, cin, 3, 3}, bs[1] = {cout};
    *c = (ig_conv2d){.stride = stride, .pad = 1, .act = act};
    IG_TRY(ig_weights_get(w, &c->w, 4, ws, err, "%s.weight", key));
    if (bias) IG_TRY(ig_weights_get(w, &c->b, 1, bs, err, "%s.bias", key));
    return IG_OK;
}

static ig_status load_block(ig_weights *w, ig_taesd_block *b, const char *key, ig_err *err) {
    if (ig_weights_has(w, "%s.skip.weight", key)) /* a Block whose channels change: not in TAESD/TAESDXL */
        return ig__fail(err, IG_ERR_UNSUPPORTED, "taesd: %s.skip.weight: a Block with a skip conv is not supported", key);
    char k[96];
    for (int i = 0; i < 3; i++) { /* nn.Sequential(conv, ReLU, conv, ReLU, conv): parts 0, 2, 4 */
        snprintf(k, sizeof k, "%s.conv.%d", key, 2 * i);
        IG_TRY(load_conv(w, &b->conv[i], k, IG_TAESD_CH, IG_TAESD_CH, true, 1, IG_ACT_RELU, err));
    }
    b->conv[2].act_after_res = true; /* fuse(conv(x) + skip(x)) */
    return IG_OK;
}

static ig_status load_decoder(ig_taesd *t, key_style s, ig_err *err) {
    ig_weights *w = &t->w;
    char k[64];
    ig_tensor first;
    layer_key(k, sizeof k, s, true, 1);
    IG_TRY(ig_weights_get(w, &first, 4, (const int64_t[]){IG_TAESD_CH, -1, 3, 3}, err, "%s.weight", k));
    const int L = (int)first.ne[1];
    if (t->latent_channels && t->latent_channels != L)
        return ig__fail(err, IG_ERR_INVALID, "taesd: the decoder takes %d latent channels, the encoder makes %d", L,
                        t->latent_channels);
    t->latent_channels = L;
    IG_TRY(load_conv(w, &t->dec_in, k, IG_TAESD_CH, L, true, 1, IG_ACT_RELU, err));
    for (int i = 0; i < IG_TAESD_DEC_BLOCKS; i++) {
        layer_key(k, sizeof k, s, true, dec_block_idx[i]);
        IG_TRY(load_block(w, &t->dec_blocks[i], k, err));
    }
    for (int i = 0; i < 3; i++) {
        layer_key(k, sizeof k, s, true, dec_up_idx[i]);
        IG_TRY(load_conv(w, &t->dec_up[i], k, IG_TAESD_CH, IG_TAESD_CH, false, 1, IG_ACT_NONE, err));
    }
    layer_key(k, sizeof k, s, true, 19);
    IG_TRY(load_conv(w, &t->dec_out, k, 3, IG_TAESD_CH, true, 1, IG_ACT_NONE, err));
    t->has_decoder = true;
    return IG_OK;
}

static ig_status load_encoder(ig_taesd *t, key_style s, ig_err *err) {
    ig_weights *w = &t->w;
    char k[64];
    ig_tensor last;
    layer_key(k, sizeof k, s, false, 14);
    IG_TRY(ig_weights_get(w, &last, 4, (const int64_t[]){-1, IG_TAESD_CH, 3, 3}, err, "%s.weight", k));
    const int L = (int)last.ne[0];
    if (t->latent_channels && t->latent_channels != L)
        return ig__fail(err, IG_ERR_INVALID, "taesd: the decoder takes %d latent channels, the encoder makes %d",
                        t->latent_channels, L);
    t->latent_channels = L;
    IG_TRY(load_conv(w, &t->enc_out, k, L, IG_TAESD_CH, true, 1, IG_ACT_NONE, err));
    layer_key(k, sizeof k, s, false, 0);
    IG_TRY(load_conv(w, &t->enc_in, k, IG_TAESD_CH, 3, true, 1, IG_ACT_NONE, err)); /* no ReLU after it */
    for (int i = 0; i < IG_TAESD_ENC_BLOCKS; i++) {
        layer_key(k, sizeof k, s, false, enc_block_idx[i]);
        IG_TRY(load_block(w, &t->enc_blocks[i], k, err));
    }
    for (int i = 0; i < 3; i++) {
        layer_key(k, sizeof k, s, false, enc_down_idx[i]);
        IG_TRY(load_conv(w, &t->enc_down[i], k, IG_TAESD_CH, IG_TAESD_CH, false, 2, IG_ACT_NONE, err));
    }
    t->has_encoder = true;
    return IG_OK;
}

/* diffusers' AutoencoderTiny config: only the layout TAESD/TAESDXL have is accepted. */
static ig_status check_config(const char *path, ig_err *err) {
    ig_config *c = NULL;
    const char *act = NULL;
    int eb[8], db[8], ne = 0, nd = 0, eo[8], dout[8], neo = 0, ndo = 0, up = 0;
    double sf = 0, sh = 0;
    TRY(ig_config_load(&c, path, err));
    ig_config_string(c, "act_fn", "relu", &act, err);
    ig_config_int_list(c, "num_encoder_blocks", eb, 8, &ne, err);
    ig_config_int_list(c, "num_decoder_blocks", db, 8, &nd, err);
    ig_config_int_list(c, "encoder_block_out_channels", eo, 8, &neo, err);
    ig_config_int_list(c, "decoder_block_out_channels", dout, 8, &ndo, err);
    ig_config_int(c, "upsampling_scaling_factor", 2, &up, err);
    ig_config_float(c, "scaling_factor", 1.0, &sf, err);
    ig_config_float(c, "shift_factor", 0.0, &sh, err);
    TRY(err->status);
    bool ok = !strcmp(act, "relu") && up == 2 && sf == 1.0 && sh == 0.0;
    static const int want_e[4] = {1, 3, 3, 3}, want_d[4] = {3, 3, 3, 1};
    ok = ok && (ne == 0 || (ne == 4 && !memcmp(eb, want_e, sizeof want_e)));
    ok = ok && (nd == 0 || (nd == 4 && !memcmp(db, want_d, sizeof want_d)));
    for (int i = 0; i < neo; i++) ok = ok && neo == 4 && eo[i] == IG_TAESD_CH;
    for (int i = 0; i < ndo; i++) ok = ok && ndo == 4 && dout[i] == IG_TAESD_CH;
    if (!ok)
        ig__fail(err, IG_ERR_UNSUPPORTED,
                 "%s: not TAESD's layout (act_fn relu, 64 channels, blocks [1,3,3,3] / [3,3,3,1], upsampling 2, "
                 "scaling_factor 1, shift_factor 0)", path);
fail:
    ig_config_free(c);
    return err->status;
}

ig_status ig_taesd_open(ig_taesd **out, const char *path, bool private_copy, ig_err *err) {
    ig_taesd *t = NULL;
    struct stat st;
    char p[4200];
    *out = NULL;
    if (!path || stat(path, &st) != 0) return ig__fail(err, IG_ERR_NOT_FOUND, "taesd: %s: no such folder or file", path ? path : "(null)");
    t = calloc(1, sizeof *t);
    if (!t) return ig__fail(err, IG_ERR_NOMEM, "taesd: out of memory");
    t->w.label = "taesd";
    t->w.private_copy = private_copy;
    if (S_ISDIR(st.st_mode)) {
        snprintf(p, sizeof p, "%s/config.json", path);
        if (stat(p, &st) == 0) TRY(check_config(p, err));
        snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", path);
    } else
        snprintf(p, sizeof p, "%s", path);
    TRY(ig_weights_add_file(&t->w, p, err));
    if (ig_weights_has(&t->w, "decoder.layers.0.weight") || ig_weights_has(&t->w, "encoder.layers.0.weight")) {
        if (ig_weights_has(&t->w, "decoder.layers.0.weight")) TRY(load_decoder(t, KEYS_DIFFUSERS, err));
        if (ig_weights_has(&t->w, "encoder.layers.0.weight")) TRY(load_encoder(t, KEYS_DIFFUSERS, err));
    } else if (ig_weights_has(&t->w, "1.weight") && !ig_weights_has(&t->w, "0.weight")) {
        TRY(load_decoder(t, KEYS_PTH, err)); /* the decoder's layer 0 is the Clamp: no weights */
    } else if (ig_weights_has(&t->w, "0.weight")) {
        TRY(load_encoder(t, KEYS_PTH, err));
    } else {
        ig__fail(err, IG_ERR_INVALID,
                 "%s: no TAESD weights (neither diffusers' decoder.layers.* / encoder.layers.* nor taesd.py's "
                 "1.weight / 0.weight)", p);
        goto fail;
    }
    *out = t;
    return IG_OK;
fail:
    ig_taesd_close(NULL, t);
    return err->status;
}

static void add_conv(ig_taesd_tensor *out, int *n, int idx, const char *part, int cout, int cin, bool bias) {
    ig_taesd_tensor *t = &out[(*n)++];
    *t = (ig_taesd_tensor){.n_dims = 4, .ne = {cout, cin, 3, 3}};
    snprintf(t->name, sizeof t->name, "%d%s.weight", idx, part);
    if (!bias) return;
    t = &out[(*n)++];
    *t = (ig_taesd_tensor){.n_dims = 1, .ne = {cout, 1, 1, 1}};
    snprintf(t->name, sizeof t->name, "%d%s.bias", idx, part);
}

static void add_block(ig_taesd_tensor *out, int *n, int idx) {
    static const char *const parts[3] = {".conv.0", ".conv.2", ".conv.4"};
    for (int i = 0; i < 3; i++) add_conv(out, n, idx, parts[i], IG_TAESD_CH, IG_TAESD_CH, true);
}

int ig_taesd_tensors(bool decoder, int L, ig_taesd_tensor out[IG_TAESD_MAX_TENSORS]) {
    int n = 0;
    if (decoder) {
        add_conv(out, &n, 1, "", IG_TAESD_CH, L, true);
        for (int i = 0; i < IG_TAESD_DEC_BLOCKS; i++) add_block(out, &n, dec_block_idx[i]);
        for (int i = 0; i < 3; i++) add_conv(out, &n, dec_up_idx[i], "", IG_TAESD_CH, IG_TAESD_CH, false);
        add_conv(out, &n, 19, "", 3, IG_TAESD_CH, true);
    } else {
        add_conv(out, &n, 0, "", IG_TAESD_CH, 3, true);
        for (int i = 0; i < IG_TAESD_ENC_BLOCKS; i++) add_block(out, &n, enc_block_idx[i]);
        for (int i = 0; i < 3; i++) add_conv(out, &n, enc_down_idx[i], "", IG_TAESD_CH, IG_TAESD_CH, false);
        add_conv(out, &n, 14, "", L, IG_TAESD_CH, true);
    }
    IG_ASSERT(n <= IG_TAESD_MAX_TENSORS);
    return n;
}

static void release_block(ig_engine *e, ig_taesd_block *b) {
    for (int i = 0; i < 3; i++) ig_conv2d_release(e, &b->conv[i]);
}

void ig_taesd_close(ig_engine *e, ig_taesd *t) {
    if (!t) return;
    if (e) {
        ig_conv2d_release(e, &t->dec_in), ig_conv2d_release(e, &t->dec_out);
        ig_conv2d_release(e, &t->enc_in), ig_conv2d_release(e, &t->enc_out);
        for (int i = 0; i < 3; i++) ig_conv2d_release(e, &t->dec_up[i]), ig_conv2d_release(e, &t->enc_down[i]);
        for (int i = 0; i < IG_TAESD_DEC_BLOCKS; i++) release_block(e, &t->dec_blocks[i]);
        for (int i = 0; i < IG_TAESD_ENC_BLOCKS; i++) release_block(e, &t->enc_blocks[i]);
    }
    ig_weights_close(&t->w);
    free(t);
}

/* x = Block(x), in x's memory: two temporaries, and the last conv adds x (res == y) before its ReLU. */
static ig_status block_forward(ig_fw *f, ig_taesd_block *b, ig_tensor *x) {
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor t1, t2;
    IG_TRY(ig__fw_nhwc(f, &t1, x->ne[0], IG_TAESD_CH, x->ne[2], x->ne[3]));
    IG_TRY(ig__fw_nhwc(f, &t2, x->ne[0], IG_TAESD_CH, x->ne[2], x->ne[3]));
    IG_OP(f, ig_op_conv2d(f->e, &b->conv[0], x, NULL, &t1));
    IG_OP(f, ig_op_conv2d(f->e, &b->conv[1], &t1, NULL, &t2));
    IG_OP(f, ig_op_conv2d(f->e, &b->conv[2], &t2, x, x));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

static ig_status check_shape(ig_engine *e, const char *what, const ig_tensor *t, int64_t n, int64_t c, int64_t h,
                             int64_t w) {
    char b[96];
    if (t->n_dims != 4 || t->ne[0] != n || t->ne[1] != c || t->ne[2] != h || t->ne[3] != w)
        return ig__fail(&e->err, IG_ERR_INVALID, "taesd: %s must be (%lld, %lld, %lld, %lld), got %s", what, (long long)n,
                        (long long)c, (long long)h, (long long)w, ig_tensor_describe(t, b, sizeof b));
    return IG_OK;
}

ig_status ig_taesd_decode(ig_fw *f, ig_taesd *t, const ig_tensor *z, ig_tensor *image) {
    ig_engine *e = f->e;
    if (!t->has_decoder) return ig__fail(&e->err, IG_ERR_INVALID, "taesd: these weights hold no decoder");
    const int64_t N = z->ne[0];
    int64_t H = z->ne[2], W = z->ne[3];
    IG_TRY(check_shape(e, "the latents", z, N, t->latent_channels, H, W));
    IG_TRY(check_shape(e, "the image", image, N, 3, 8 * H, 8 * W));
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor in, x, y;
    IG_TRY(ig__fw_nhwc(f, &in, N, t->latent_channels, H, W));
    IG_OP(f, ig_op_upload(e, z, &in));
    IG_OP(f, ig_op_act(e, IG_ACT_TANH_CLAMP, &in, &in)); /* Clamp */
    IG_TRY(ig__fw_nhwc(f, &x, N, IG_TAESD_CH, H, W));
    IG_OP(f, ig_op_conv2d(e, &t->dec_in, &in, NULL, &x));
    /* Each stage's input stays below the next one in the arena: at most a quarter of the last
     * stage's x, t1 and t2 (a memmove down would cost more than the memory it saves). */
    int b = 0;
    for (int s = 0; s < 4; s++) {
        for (int j = 0; j < (s < 3 ? 3 : 1); j++) IG_TRY(block_forward(f, &t->dec_blocks[b++], &x));
        if (s == 3) break;
        H *= 2, W *= 2;
        IG_TRY(ig__fw_nhwc(f, &y, N, IG_TAESD_CH, H, W));
        IG_OP(f, ig_op_upsample_conv2d(e, &t->dec_up[s], &x, &y));
        x = y;
    }
    ig_tensor o;
    IG_TRY(ig__fw_nhwc(f, &o, N, 3, H, W));
    IG_OP(f, ig_op_conv2d(e, &t->dec_out, &x, NULL, &o));
    IG_OP(f, ig_op_download(e, &o, image));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}

ig_status ig_taesd_encode(ig_fw *f, ig_taesd *t, const ig_tensor *image, ig_tensor *z) {
    ig_engine *e = f->e;
    if (!t->has_encoder) return ig__fail(&e->err, IG_ERR_INVALID, "taesd: these weights hold no encoder");
    const int64_t N = image->ne[0];
    int64_t H = image->ne[2], W = image->ne[3];
    IG_TRY(check_shape(e, "the image", image, N, 3, H, W));
    IG_TRY(check_shape(e, "the latents", z, N, t->latent_channels, ig_taesd_latent_size(H), ig_taesd_latent_size(W)));
    const size_t mark = ig_arena_mark(f->a);
    ig_tensor in, x, y;
    IG_TRY(ig__fw_nhwc(f, &in, N, 3, H, W));
    IG_OP(f, ig_op_upload(e, image, &in));
    IG_TRY(ig__fw_nhwc(f, &x, N, IG_TAESD_CH, H, W));
    IG_OP(f, ig_op_conv2d(e, &t->enc_in, &in, NULL, &x));
    int b = 0;
    for (int s = 0; s < 4; s++) {
        if (s > 0) { /* conv 3x3 stride 2 pad 1: (n + 2 - 3) / 2 + 1 = (n + 1) / 2 */
            H = (H + 1) / 2, W = (W + 1) / 2;
            IG_TRY(ig__fw_nhwc(f, &y, N, IG_TAESD_CH, H, W));
            IG_OP(f, ig_op_conv2d(e, &t->enc_down[s - 1], &x, NULL, &y));
            x = y;
        }
        for (int j = 0; j < (s == 0 ? 1 : 3); j++) IG_TRY(block_forward(f, &t->enc_blocks[b++], &x));
    }
    ig_tensor o;
    IG_TRY(ig__fw_nhwc(f, &o, N, t->latent_channels, H, W));
    IG_OP(f, ig_op_conv2d(e, &t->enc_out, &x, NULL, &o));
    IG_OP(f, ig_op_download(e, &o, z));
    ig_arena_reset(f->a, mark);
    return IG_OK;
}
