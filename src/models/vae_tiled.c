/* vae_tiled.c — AutoencoderKL's decoder over overlapping tiles of the latents (vae.h), so a large
 * image's decode needs one tile's activations, not the whole picture's (at 2048x2048 the decoder's
 * last level alone is 128 channels x 4 Mpx per tensor).
 *
 * Tiles: along each axis, ceil((n - overlap) / (tile - overlap)) tiles of min(tile, n) latents,
 * their starts spread evenly over [0, n - tile] (rounded), so neighbours overlap by at least
 * `overlap` latents and every tile has one shape (one dry run sizes them all). Blending: each tile's
 * pixels are weighted by a separable ramp, per axis min(1, (p + 0.5) / ol) from an edge shared with
 * a neighbour overlapping it by ol pixels (1 at the picture's own edges), and the weighted sum is
 * divided by the weights' sum per pixel; two neighbours' ramps over their overlap add up to 1, so
 * the picture crosses from one tile to the next linearly, without a seam (diffusers'
 * AutoencoderKL.tiled_decode blends the same way, linearly over the overlap, but crops tiles to a
 * fixed stride; here any overlap is blended whole).
 *
 * Owns: the tile grid, the host scratch, the blend. Leaves to others: decoding a tile (vae.c). */
#include "vae.h"

#include <stdlib.h>
#include <string.h>

int ig_vae_tile_starts(int n, int tile, int overlap, int *t, int *starts) {
    if (n <= tile) {
        *t = n, starts[0] = 0;
        return 1;
    }
    const int stride = tile - overlap;
    int k = (n - overlap + stride - 1) / stride;
    if (k > IG_VAE_TILE_MAX_STARTS) k = IG_VAE_TILE_MAX_STARTS;
    if (k < 2) k = 2;
    *t = tile;
    for (int i = 0; i < k; i++) /* round(i (n - tile) / (k - 1)) */
        starts[i] = (int)(((int64_t)i * (n - tile) * 2 + (k - 1)) / (2 * (int64_t)(k - 1)));
    return k;
}

/* The ramp of tile i (of k, starts s, extent t latents, f pixels per latent) at pixel p of the tile. */
static float ramp(const int *s, int k, int i, int t, int f, int p) {
    float wgt = 1.0f;
    if (i > 0) { /* overlap with the previous tile, in pixels */
        const int ol = (s[i - 1] + t - s[i]) * f;
        if (ol > 0 && p < ol) wgt = ((float)p + 0.5f) / (float)ol;
    }
    if (i < k - 1) {
        const int ol = (s[i] + t - s[i + 1]) * f, q = t * f - 1 - p;
        if (ol > 0 && q < ol) {
            const float r = ((float)q + 0.5f) / (float)ol;
            if (r < wgt) wgt = r;
        }
    }
    return wgt;
}

ig_status ig_vae_decode_tiled(ig_fw *f, ig_vae *v, const float *z, int64_t N, int64_t h, int64_t w, int tile,
                              int overlap, float *image) {
    ig_engine *e = f->e;
    const ig_vae_config *cfg = &v->cfg;
    const int C = cfg->latent_channels, O = cfg->out_channels;
    int sf = 1;
    for (int i = 1; i < cfg->n_blocks; i++) sf *= 2;
    if (tile < 1 || overlap < 0 || overlap >= tile || h < 1 || w < 1 || N < 1)
        return ig__fail(&e->err, IG_ERR_INVALID, "vae tiles: tile %d, overlap %d for %lldx%lld latents", tile, overlap,
                        (long long)h, (long long)w);
    int *sy = malloc(sizeof(int) * IG_VAE_TILE_MAX_STARTS), *sx = malloc(sizeof(int) * IG_VAE_TILE_MAX_STARTS);
    float *zt = NULL, *pt = NULL, *wsum = NULL;
    ig_status st = IG_OK;
    if (!sy || !sx) {
        st = ig__fail(&e->err, IG_ERR_NOMEM, "vae tiles: out of memory");
        goto done;
    }
    int th, tw;
    const int ky = ig_vae_tile_starts((int)h, tile, overlap, &th, sy), kx = ig_vae_tile_starts((int)w, tile, overlap, &tw, sx);
    const int64_t H = h * sf, W = w * sf, TH = (int64_t)th * sf, TW = (int64_t)tw * sf;
    int64_t zs[4] = {N, C, th, tw};
    if (f->a->dry) { /* every tile has this shape */
        ig_tensor zd = ig_tensor_plain(IG_F32, 4, zs, NULL), id = ig_tensor_nhwc(IG_F32, N, O, TH, TW, NULL);
        st = ig_vae_decode(f, v, &zd, &id);
        goto done;
    }
    zt = malloc(sizeof(float) * (size_t)(N * C * th * tw));
    pt = malloc(sizeof(float) * (size_t)(N * TH * TW * O));
    wsum = calloc((size_t)(H * W), sizeof(float));
    if (!zt || !pt || !wsum) {
        st = ig__fail(&e->err, IG_ERR_NOMEM, "vae tiles: out of memory");
        goto done;
    }
    memset(image, 0, sizeof(float) * (size_t)(N * H * W * O));
    for (int iy = 0; iy < ky; iy++)
        for (int ix = 0; ix < kx; ix++) {
            const int y0 = sy[iy], x0 = sx[ix];
            for (int64_t b = 0; b < N * C; b++) /* (N, C) planes: the tile's rows */
                for (int y = 0; y < th; y++)
                    memcpy(zt + (b * th + y) * tw, z + (b * h + y0 + y) * w + x0, sizeof(float) * (size_t)tw);
            ig_tensor zd = ig_tensor_plain(IG_F32, 4, zs, zt), id = ig_tensor_nhwc(IG_F32, N, O, TH, TW, pt);
            if ((st = ig_vae_decode(f, v, &zd, &id)) != IG_OK) goto done;
            for (int64_t py = 0; py < TH; py++) {
                const float wy = ramp(sy, ky, iy, th, sf, (int)py);
                for (int64_t px = 0; px < TW; px++) {
                    const float wgt = wy * ramp(sx, kx, ix, tw, sf, (int)px);
                    const int64_t Y = (int64_t)y0 * sf + py, X = (int64_t)x0 * sf + px;
                    wsum[Y * W + X] += wgt;
                    for (int64_t b = 0; b < N; b++) {
                        const float *src = pt + ((b * TH + py) * TW + px) * O;
                        float *dst = image + ((b * H + Y) * W + X) * O;
                        for (int c = 0; c < O; c++) dst[c] += wgt * src[c];
                    }
                }
            }
        }
    for (int64_t b = 0; b < N; b++)
        for (int64_t k = 0; k < H * W; k++) {
            const float inv = 1.0f / wsum[k];
            for (int c = 0; c < O; c++) image[(b * H * W + k) * O + c] *= inv;
        }
done:
    free(wsum), free(pt), free(zt), free(sx), free(sy);
    return st;
}
