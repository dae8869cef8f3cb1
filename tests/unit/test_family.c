/* test_family.c — the architecture description (models/family.h) against diffusers' own files.
 *
 * Checks: for the golden tiny models (../shared/golden/sd{1,2}-tiny/model), the description built
 * from their configs lists exactly the tensors of their safetensors files, key and shape, both
 * directions; a single file written from the description alone (keys, stored shapes, fused rows;
 * SD 2.x with the extra last resblock the format carries) opens (ig_sd_open_path, as the folder does) and every
 * tensor read through the map is the folder's, byte for byte (opened with copy_weights, and read
 * after the file was truncated: the copy is private); ig_fam_check names a missing and a
 * mis-shaped tensor; the family fields (native size, size multiple); an SDXL folder is refused;
 * the full-size SD 1.5 / 2.1 lists have the sizes of the released checkpoints
 * (diffusers: UNet 686 tensors, VAE 248, CLIP-L 196 float tensors, OpenCLIP-H's 23 used layers 372),
 * and their single-file names are the released files' (keys checked one by one). */
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "models/family.h"
#include "models/sd.h"
#include "models/single.h"
#include "single_file.h"
#include "test.h"

static char g_tmp[256];

static bool arch_of(const char *model, ig_fam_arch *a) {
    char p[700];
    ig_err err = {0};
    *a = (ig_fam_arch){0};
    snprintf(p, sizeof p, "%s/text_encoder/config.json", model);
    CHECK(ig_sd_clip_config(p, &a->text, &err) == IG_OK);
    snprintf(p, sizeof p, "%s/unet/config.json", model);
    CHECK(ig_sd_unet_config(p, &a->unet, &err) == IG_OK);
    snprintf(p, sizeof p, "%s/vae/config.json", model);
    CHECK(ig_sd_vae_config(p, &a->vae, &err) == IG_OK);
    a->family = ig_fam_of_text(&a->text);
    if (err.status) fprintf(stderr, "  %s\n", err.msg);
    return err.status == IG_OK;
}

static bool same_shape(const ig_tensor *t, const ig_fam_tensor *d) {
    bool ok = t->n_dims == d->n_dims;
    for (int i = 0; ok && i < d->n_dims; i++) ok = t->ne[i] == d->ne[i];
    return ok;
}

/* Every listed tensor in the file with its shape, and every float tensor of the file listed. */
static void test_exact(const char *set, ig_family want) {
    char model[600], p[800];
    snprintf(model, sizeof model, "%s/golden/%s/model", test_shared_dir(), set);
    ig_fam_arch a;
    if (!arch_of(model, &a)) return;
    CHECK(a.family == want);
    for (int part = 0; part < IG_FAM_N_PARTS; part++) {
        ig_fam_list l = {0};
        ig_st_file *f = NULL;
        ig_err err = {0};
        snprintf(p, sizeof p, "%s/%s", model, test_part_file[part]);
        CHECK(ig_fam_tensors(&a, (ig_fam_part)part, &l, &err) == IG_OK);
        CHECK(ig_st_open(&f, p, false, &err) == IG_OK);
        if (!f) continue;
        int missing = 0, misshaped = 0, unlisted = 0, n_float = 0;
        for (int i = 0; i < l.n; i++) {
            ig_tensor t;
            if (ig_weights_st_get(f, l.v[i].key, &t, &(ig_err){0}) != IG_OK) {
                fprintf(stderr, "  %s: listed, not in the file: %s\n", set, l.v[i].key);
                missing++;
            } else if (!same_shape(&t, &l.v[i])) {
                fprintf(stderr, "  %s: %s has another shape in the file\n", set, l.v[i].key);
                misshaped++;
            }
        }
        for (int i = 0; i < ig_st_count(f); i++) {
            const char *k = ig_st_name(f, i);
            ig_tensor t;
            if (ig_weights_st_get(f, k, &t, &(ig_err){0}) != IG_OK) continue; /* e.g. position_ids (I64) */
            n_float++;
            bool found = false;
            for (int j = 0; !found && j < l.n; j++) found = !strcmp(l.v[j].key, k);
            if (!found) fprintf(stderr, "  %s: in the file, not listed: %s\n", set, k);
            unlisted += !found;
        }
        CHECK(missing == 0 && misshaped == 0 && unlisted == 0 && l.n == n_float);
        printf("  %s %-12s %4d listed, %4d in the file: %d missing, %d mis-shaped, %d unlisted\n", set,
               ig_fam_part_name((ig_fam_part)part), l.n, n_float, missing, misshaped, unlisted);
        ig_st_close(f);
        ig_fam_list_free(&l);
    }
}

/* ---- a single file from the description (single_file.h writes it) ---- */

static bool same_bytes(const ig_tensor *x, const ig_tensor *y) {
    if (x->n_dims != y->n_dims || x->dtype != y->dtype) return false;
    for (int i = 0; i < x->n_dims; i++)
        if (x->ne[i] != y->ne[i]) return false;
    return !memcmp(x->data, y->data, ig_tensor_nbytes(x));
}

static void test_round_trip(const char *set, const ig_sd_open_opts *opts) {
    char model[600], file[400];
    snprintf(model, sizeof model, "%s/golden/%s/model", test_shared_dir(), set);
    snprintf(file, sizeof file, "%s/%s.safetensors", g_tmp, set);
    ig_fam_arch a;
    ig_sd_model *fm = NULL, *sm = NULL;
    ig_err err = {0};
    if (!arch_of(model, &a) || !test_write_single(model, &a, file, -1)) {
        CHECK(false);
        return;
    }
    CHECK(ig_sd_open_path(&fm, model, NULL, &err) == IG_OK); /* a folder */
    ig_sd_open_opts o = *opts;
    o.copy_weights = true; /* the file is read, not mapped: truncating it below must not matter */
    CHECK(ig_sd_open_path(&sm, file, &o, &err) == IG_OK); /* a file: ig_sd_open_single */
    if (err.status) fprintf(stderr, "  %s\n", err.msg);
    CHECK(truncate(file, 0) == 0);
    if (fm && sm) {
        ig_weights *wf[IG_FAM_N_PARTS] = {&fm->w_text, &fm->w_unet, &fm->w_vae};
        ig_weights *ws[IG_FAM_N_PARTS] = {&sm->w_text, &sm->w_unet, &sm->w_vae};
        int n = 0, bad = 0;
        CHECK(sm->family == a.family && fm->family == a.family);
        for (int part = 0; part < IG_FAM_N_PARTS; part++) {
            ig_fam_list l = {0};
            CHECK(ig_fam_tensors(&a, (ig_fam_part)part, &l, &err) == IG_OK);
            for (int i = 0; i < l.n; i++, n++) {
                ig_tensor x, y;
                const ig_fam_tensor *d = &l.v[i];
                bool ok = ig_weights_get(wf[part], &x, d->n_dims, d->ne, &err, "%s", d->key) == IG_OK &&
                          ig_weights_get(ws[part], &y, d->n_dims, d->ne, &err, "%s", d->key) == IG_OK &&
                          same_bytes(&x, &y);
                if (!ok) fprintf(stderr, "  %s: %s differs through the single file %s\n", set, d->key, err.msg);
                bad += !ok;
            }
            ig_fam_list_free(&l);
        }
        CHECK(bad == 0);
        printf("  %s single file from the description: %d tensors, %d differ from the folder's\n", set, n, bad);
        /* sample_size 8 latents x 8 = 64 pixels in the folder; a single file says nothing: 512 */
        CHECK(fm->native_width == 64 && fm->native_height == 64 && fm->size_multiple == 64);
        CHECK(sm->native_width == 512 && sm->native_height == 512 && sm->size_multiple == 64);
        printf("  %s family %d, native %dx%d (single file %dx%d), sides multiples of %d\n", set, (int)fm->family,
               fm->native_width, fm->native_height, sm->native_width, sm->native_height, fm->size_multiple);
    }
    ig_sd_close(NULL, sm);
    ig_sd_close(NULL, fm);
    unlink(file);
}

/* ig_fam_check on a UNet file that lacks one tensor, then has one of another shape. */
static void test_check(void) {
    char model[600], p[800], file[400];
    snprintf(model, sizeof model, "%s/golden/sd1-tiny/model", test_shared_dir());
    snprintf(p, sizeof p, "%s/%s", model, test_part_file[IG_FAM_UNET]);
    snprintf(file, sizeof file, "%s/unet.safetensors", g_tmp);
    ig_fam_arch a;
    if (!arch_of(model, &a)) return;
    ig_fam_list l = {0};
    ig_st_file *f = NULL;
    ig_err err = {0};
    CHECK(ig_fam_tensors(&a, IG_FAM_UNET, &l, &err) == IG_OK && ig_st_open(&f, p, false, &err) == IG_OK);
    if (!f) return;
    ig_weights_entry *e = calloc((size_t)l.n, sizeof *e);
    static float one[4];
    for (int round = 0; round < 2; round++) {
        int n = 0;
        for (int i = 0; i < l.n; i++) {
            const char *k = l.v[i].key;
            if (!strcmp(k, "up_blocks.1.attentions.2.proj_out.bias")) {
                if (round == 0) continue; /* missing */
                e[n++] = (ig_weights_entry){k, ig_tensor_plain(IG_F32, 1, (int64_t[]){3}, one)}; /* mis-shaped */
                continue;
            }
            e[n].name = k;
            CHECK(ig_weights_st_get(f, k, &e[n++].t, &err) == IG_OK);
        }
        CHECK(ig_weights_write(file, e, n, NULL, &err) == IG_OK);
        ig_weights w = {.label = "unet"};
        CHECK(ig_weights_add_file(&w, file, &err) == IG_OK);
        err = (ig_err){0};
        ig_status st = ig_fam_check(&l, &w, &err);
        const bool ok = round == 0 ? st == IG_ERR_NOT_FOUND && strstr(err.msg, "'up_blocks.1.attentions.2.proj_out.bias'")
                                   : st == IG_ERR_INVALID && strstr(err.msg, "'up_blocks.1.attentions.2.proj_out.bias'") &&
                                         strstr(err.msg, "(3)") && strstr(err.msg, "(64)");
        CHECK(ok);
        printf("  ig_fam_check, %s tensor: %s\n", round ? "mis-shaped" : "missing", err.msg);
        ig_weights_close(&w);
    }
    unlink(file);
    free(e);
    ig_st_close(f);
    ig_fam_list_free(&l);
}

/* The released SD 1.5 and 2.1 (768-v) configs, as their unet/vae/text_encoder config.json say. */
static void test_full_size(void) {
    ig_fam_arch sd15 = {.family = IG_FAMILY_SD1}, sd21;
    sd15.unet = (ig_unet_config){.in_channels = 4, .out_channels = 4, .n_blocks = 4, .block_out = {320, 640, 1280, 1280},
                                 .down_attn = {true, true, true, false}, .up_attn = {false, true, true, true},
                                 .heads = {8, 8, 8, 8}, .layers_per_block = 2, .cross_attention_dim = 768,
                                 .norm_groups = 32, .norm_eps = 1e-5f, .flip_sin_to_cos = true};
    sd15.vae = (ig_vae_config){.in_channels = 3, .latent_channels = 4, .out_channels = 3, .n_blocks = 4,
                               .block_out = {128, 256, 512, 512}, .layers_per_block = 2, .norm_groups = 32,
                               .mid_attention = true, .quant_conv = true, .post_quant_conv = true};
    sd15.text = (ig_clip_config){.vocab_size = 49408, .max_positions = 77, .hidden = 768, .intermediate = 3072,
                                 .heads = 12, .layers = 12, .act = IG_ACT_QUICK_GELU, .eps = 1e-5f};
    sd21 = sd15;
    sd21.family = IG_FAMILY_SD2;
    sd21.unet.cross_attention_dim = 1024, sd21.unet.use_linear_projection = true;
    sd21.text = (ig_clip_config){.vocab_size = 49408, .max_positions = 77, .hidden = 1024, .intermediate = 4096,
                                 .heads = 16, .layers = 23, .act = IG_ACT_GELU_ERF, .eps = 1e-5f};
    const int want[2][IG_FAM_N_PARTS] = {{196, 686, 248}, {372, 686, 248}};
    const ig_fam_arch *as[2] = {&sd15, &sd21};
    for (int k = 0; k < 2; k++)
        for (int part = 0; part < IG_FAM_N_PARTS; part++) {
            ig_fam_list l = {0};
            ig_err err = {0};
            CHECK(ig_fam_tensors(as[k], (ig_fam_part)part, &l, &err) == IG_OK && l.n == want[k][part]);
            printf("  %s %-12s %4d tensors (released checkpoint: %d)\n", k ? "SD 2.1" : "SD 1.5",
                   ig_fam_part_name((ig_fam_part)part), l.n, want[k][part]);
            ig_fam_list_free(&l);
        }
    CHECK(ig_fam_of_text(&sd15.text) == IG_FAMILY_SD1 && ig_fam_of_text(&sd21.text) == IG_FAMILY_SD2);
}

/* The description's single-file names on the full-size layouts: SD 1.5 / 2.1 keys as the released
 * single files name them. */
static void test_names(void) {
    ig_fam_arch sd21 = {.family = IG_FAMILY_SD2};
    sd21.unet = (ig_unet_config){.in_channels = 4, .out_channels = 4, .n_blocks = 4, .block_out = {320, 640, 1280, 1280},
                                 .down_attn = {true, true, true, false}, .up_attn = {false, true, true, true},
                                 .layers_per_block = 2, .cross_attention_dim = 1024, .use_linear_projection = true};
    sd21.vae = (ig_vae_config){.in_channels = 3, .latent_channels = 4, .out_channels = 3, .n_blocks = 4,
                               .block_out = {128, 256, 512, 512}, .layers_per_block = 2, .mid_attention = true,
                               .quant_conv = true, .post_quant_conv = true};
    sd21.text = (ig_clip_config){.vocab_size = 49408, .max_positions = 77, .hidden = 1024, .intermediate = 4096,
                                 .layers = 23, .act = IG_ACT_GELU_ERF};
    ig_weights w[3] = {{.label = "unet"}, {.label = "vae"}, {.label = "text_encoder"}};
    const ig_fam_part parts[3] = {IG_FAM_UNET, IG_FAM_VAE, IG_FAM_TEXT};
    for (int k = 0; k < 3; k++) {
        ig_fam_list l = {0};
        ig_err err = {0};
        CHECK(ig_fam_tensors(&sd21, parts[k], &l, &err) == IG_OK && ig_fam_map_ldm(&w[k], &l, &err) == IG_OK);
        ig_fam_list_free(&l);
    }
    static const struct {
        int which; /* 0 unet, 1 vae, 2 openclip */
        const char *key, *want;
        int64_t row0, n_rows, ne0;
    } cases[] = {
        {0, "conv_in.weight", "input_blocks.0.0.weight", 0, 0, 0},
        {0, "time_embedding.linear_2.bias", "time_embed.2.bias", 0, 0, 0},
        {0, "conv_norm_out.weight", "out.0.weight", 0, 0, 0},
        {0, "down_blocks.0.resnets.1.conv1.weight", "input_blocks.2.0.in_layers.2.weight", 0, 0, 0},
        {0, "down_blocks.0.attentions.0.proj_in.weight", "input_blocks.1.1.proj_in.weight", 0, 0, 0},
        {0, "down_blocks.0.downsamplers.0.conv.weight", "input_blocks.3.0.op.weight", 0, 0, 0},
        {0, "down_blocks.1.resnets.0.conv_shortcut.weight", "input_blocks.4.0.skip_connection.weight", 0, 0, 0},
        {0, "down_blocks.2.downsamplers.0.conv.bias", "input_blocks.9.0.op.bias", 0, 0, 0},
        {0, "down_blocks.3.resnets.1.time_emb_proj.weight", "input_blocks.11.0.emb_layers.1.weight", 0, 0, 0},
        {0, "mid_block.resnets.1.norm2.weight", "middle_block.2.out_layers.0.weight", 0, 0, 0},
        {0, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight",
         "middle_block.1.transformer_blocks.0.attn2.to_k.weight", 0, 0, 0},
        {0, "up_blocks.0.resnets.2.conv2.bias", "output_blocks.2.0.out_layers.3.bias", 0, 0, 0},
        {0, "up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight", 0, 0, 0},
        {0, "up_blocks.1.upsamplers.0.conv.weight", "output_blocks.5.2.conv.weight", 0, 0, 0},
        {0, "up_blocks.2.upsamplers.0.conv.bias", "output_blocks.8.2.conv.bias", 0, 0, 0},
        {0, "up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight",
         "output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight", 0, 0, 0},
        {0, "conv_out.bias", "out.2.bias", 0, 0, 0},
        {0, "down_blocks.3.downsamplers.0.conv.weight", NULL, 0, 0, 0},
        {0, "up_blocks.3.upsamplers.0.conv.weight", NULL, 0, 0, 0},
        {0, "down_blocks.0.resnets.2.conv1.weight", NULL, 0, 0, 0},
        {0, "up_blocks.4.resnets.0.conv1.weight", NULL, 0, 0, 0},
        {0, "down_blocks.01.resnets.0.conv1.weight", NULL, 0, 0, 0},
        {1, "post_quant_conv.weight", "post_quant_conv.weight", 0, 0, 0},
        {1, "decoder.conv_norm_out.bias", "decoder.norm_out.bias", 0, 0, 0},
        {1, "decoder.mid_block.resnets.1.conv2.weight", "decoder.mid.block_2.conv2.weight", 0, 0, 0},
        {1, "decoder.mid_block.attentions.0.group_norm.weight", "decoder.mid.attn_1.norm.weight", 0, 0, 0},
        {1, "decoder.mid_block.attentions.0.to_q.weight", "decoder.mid.attn_1.q.weight", 0, 0, 512},
        {1, "decoder.mid_block.attentions.0.to_out.0.weight", "decoder.mid.attn_1.proj_out.weight", 0, 0, 512},
        {1, "decoder.mid_block.attentions.0.to_out.0.bias", "decoder.mid.attn_1.proj_out.bias", 0, 0, 0},
        {1, "decoder.up_blocks.0.upsamplers.0.conv.bias", "decoder.up.3.upsample.conv.bias", 0, 0, 0},
        {1, "decoder.up_blocks.3.resnets.2.norm2.bias", "decoder.up.0.block.2.norm2.bias", 0, 0, 0},
        {1, "decoder.up_blocks.2.resnets.0.conv_shortcut.weight", "decoder.up.1.block.0.nin_shortcut.weight", 0, 0, 0},
        {1, "decoder.up_blocks.3.upsamplers.0.conv.weight", NULL, 0, 0, 0},
        {1, "quant_conv.weight", "quant_conv.weight", 0, 0, 0},
        {1, "encoder.conv_in.bias", "encoder.conv_in.bias", 0, 0, 0},
        {1, "encoder.conv_norm_out.weight", "encoder.norm_out.weight", 0, 0, 0},
        {1, "encoder.conv_out.weight", "encoder.conv_out.weight", 0, 0, 0},
        {1, "encoder.down_blocks.0.resnets.1.conv2.weight", "encoder.down.0.block.1.conv2.weight", 0, 0, 0},
        {1, "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.down.1.block.0.nin_shortcut.weight", 0, 0, 0},
        {1, "encoder.down_blocks.2.downsamplers.0.conv.bias", "encoder.down.2.downsample.conv.bias", 0, 0, 0},
        {1, "encoder.mid_block.resnets.0.norm1.weight", "encoder.mid.block_1.norm1.weight", 0, 0, 0},
        {1, "encoder.mid_block.attentions.0.to_k.weight", "encoder.mid.attn_1.k.weight", 0, 0, 512},
        {1, "encoder.mid_block.attentions.0.group_norm.bias", "encoder.mid.attn_1.norm.bias", 0, 0, 0},
        {1, "encoder.down_blocks.3.downsamplers.0.conv.weight", NULL, 0, 0, 0},
        {1, "encoder.down_blocks.0.resnets.2.conv1.weight", NULL, 0, 0, 0},
        {1, "encoder.down_blocks.4.resnets.0.conv1.weight", NULL, 0, 0, 0},
        {2, "text_model.embeddings.position_embedding.weight", "positional_embedding", 0, 0, 0},
        {2, "text_model.final_layer_norm.bias", "ln_final.bias", 0, 0, 0},
        {2, "text_model.encoder.layers.0.self_attn.q_proj.weight", "transformer.resblocks.0.attn.in_proj_weight", 0, 1024, 0},
        {2, "text_model.encoder.layers.22.self_attn.v_proj.bias", "transformer.resblocks.22.attn.in_proj_bias", 2048, 1024, 0},
        {2, "text_model.encoder.layers.5.self_attn.k_proj.weight", "transformer.resblocks.5.attn.in_proj_weight", 1024, 1024, 0},
        {2, "text_model.encoder.layers.5.mlp.fc2.weight", "transformer.resblocks.5.mlp.c_proj.weight", 0, 0, 0},
        {2, "text_model.encoder.layers.22.layer_norm2.bias", "transformer.resblocks.22.ln_2.bias", 0, 0, 0},
        {2, "text_model.encoder.layers.23.layer_norm1.weight", NULL, 0, 0, 0}, /* the dropped last layer */
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ig_weights_src src = {0};
        snprintf(src.key, sizeof src.key, "%s", cases[i].key);
        bool got = w[cases[i].which].map(w[cases[i].which].map_ud, cases[i].key, &src);
        bool ok = cases[i].want ? got && !strcmp(src.key, cases[i].want) && src.row0 == cases[i].row0 &&
                                      src.n_rows == cases[i].n_rows &&
                                      (cases[i].ne0 ? src.n_dims == 2 && src.ne[0] == cases[i].ne0 && src.ne[1] == cases[i].ne0
                                                    : src.n_dims == 0)
                                : !got;
        if (!ok) fprintf(stderr, "  %s -> %s (want %s)\n", cases[i].key, got ? src.key : "(none)", cases[i].want ? cases[i].want : "(none)");
        bad += !ok;
        CHECK(ok);
    }
    for (int k = 0; k < 3; k++) ig_weights_close(&w[k]);
    printf("  single-file names on SD 1.5 / 2.1 layouts: %zu keys, %d wrong\n", sizeof cases / sizeof *cases, bad);
}

/* An SDXL folder (issue 14; it used to be refused) opens as IG_FAMILY_SDXL, and the description lists
 * exactly the float tensors of its four files, with their shapes. */
static void test_sdxl(void) {
    char model[600], p[800];
    snprintf(model, sizeof model, "%s/golden/sdxl-tiny/model", test_shared_dir());
    ig_sd_model *m = NULL;
    ig_err err = {0};
    CHECK(ig_sd_open(&m, model, NULL, &err) == IG_OK && m && m->family == IG_FAMILY_SDXL);
    if (!m) {
        fprintf(stderr, "  sdxl-tiny: %s\n", err.msg);
        return;
    }
    ig_fam_arch a = {.family = IG_FAMILY_SDXL, .text = m->clip.cfg, .text2 = m->clip2.cfg, .unet = m->unet.cfg,
                     .vae = m->vae.cfg};
    static const char *const files[IG_FAM_N_PARTS_MAX] = {
        "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors", "text_encoder_2/model.safetensors"};
    for (int part = 0; part < ig_fam_n_parts(a.family); part++) {
        ig_fam_list l = {0};
        ig_st_file *f = NULL;
        snprintf(p, sizeof p, "%s/%s", model, files[part]);
        CHECK(ig_fam_tensors(&a, (ig_fam_part)part, &l, &err) == IG_OK && ig_st_open(&f, p, false, &err) == IG_OK);
        int missing = 0, n_file = 0;
        for (int i = 0; f && i < l.n; i++) {
            ig_tensor t;
            if (ig_weights_st_get(f, l.v[i].key, &t, &(ig_err){0}) != IG_OK || !same_shape(&t, &l.v[i])) {
                fprintf(stderr, "  sdxl-tiny: listed, not in the file as listed: %s\n", l.v[i].key);
                missing++;
            }
        }
        for (int i = 0; f && i < ig_st_count(f); i++) n_file++;
        printf("  sdxl-tiny %-15s %4d tensors listed, %d in the file, %d missing\n", ig_fam_part_name((ig_fam_part)part),
               l.n, n_file, missing);
        CHECK(missing == 0 && n_file == l.n);
        ig_st_close(f);
        ig_fam_list_free(&l);
    }
    ig_sd_close(NULL, m);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/imagine_family_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_exact("sd1-tiny", IG_FAMILY_SD1);
    test_exact("sd2-tiny", IG_FAMILY_SD2);
    test_full_size();
    test_names();
    test_check();
    test_sdxl();
    /* what the tiny models' configs say and a single file cannot (as in test_single.c) */
    ig_sd_open_opts o1 = IG_SD_OPEN_OPTS_INIT, o2 = IG_SD_OPEN_OPTS_INIT;
    o1.unet_norm_groups = 8, o1.text_heads = 4;
    o2.unet_norm_groups = 8, o2.text_heads = 4, o2.unet_heads = 8;
    char vocab[600];
    snprintf(vocab, sizeof vocab, "%s/assets/clip", test_shared_dir());
    o1.vocab_dir = o2.vocab_dir = vocab;
    test_round_trip("sd1-tiny", &o1);
    test_round_trip("sd2-tiny", &o2);
    rmdir(g_tmp);
    return test_finish("test_family");
}
