/* txt2img — a complete program on libimagine: text to a PNG.
 *
 *     txt2img MODEL PROMPT OUT.png [SEED]
 *
 * MODEL is a diffusers folder or a single .safetensors file ("-" for the built-in model). The image is
 * drawn at the model's native size with its recommended sampler, steps and guidance, and written as
 * an uncompressed PNG with nothing but the C library (a real program would use libpng or stb).
 *
 * Build: cc txt2img.c $(pkg-config --cflags --libs imagine) -o txt2img
 */
#include <imagine.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long crc_table[256];

static unsigned long crc32_update(unsigned long c, const unsigned char *p, size_t n) {
    if (!crc_table[1])
        for (unsigned long k = 0; k < 256; k++) {
            unsigned long v = k;
            for (int b = 0; b < 8; b++) v = v & 1 ? 0xedb88320UL ^ (v >> 1) : v >> 1;
            crc_table[k] = v;
        }
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c;
}

static void put32(unsigned char *p, unsigned long v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One PNG chunk: length, type, data, CRC of type and data. */
static int chunk(FILE *f, const char *type, const unsigned char *data, size_t n) {
    unsigned char len[4], crc[4];
    put32(len, (unsigned long)n);
    unsigned long c = crc32_update(0xffffffffUL, (const unsigned char *)type, 4);
    c = crc32_update(c, data, n) ^ 0xffffffffUL;
    put32(crc, c);
    return fwrite(len, 1, 4, f) == 4 && fwrite(type, 1, 4, f) == 4 && fwrite(data, 1, n, f) == n &&
           fwrite(crc, 1, 4, f) == 4;
}

/* RGB pixels as a PNG whose zlib stream holds stored (uncompressed) blocks, one per row. */
static int write_png(const char *path, const ig_image *img) {
    const size_t row = 1 + (size_t)img->width * 3, n = (size_t)img->height * (row + 5) + 6;
    unsigned char ihdr[13] = {0}, *z = malloc(n), *p = z;
    FILE *f = fopen(path, "wb");
    int ok = f && z;
    unsigned long a = 1, b = 0; /* Adler-32 of the filtered rows */
    if (ok) {
        put32(ihdr, (unsigned long)img->width), put32(ihdr + 4, (unsigned long)img->height);
        ihdr[8] = 8, ihdr[9] = 2; /* 8 bits, truecolour */
        *p++ = 0x78, *p++ = 0x01;
        for (int y = 0; y < img->height; y++) {
            *p++ = y == img->height - 1; /* BFINAL on the last block, BTYPE 00 */
            *p++ = (unsigned char)row, *p++ = (unsigned char)(row >> 8);
            *p++ = (unsigned char)~row, *p++ = (unsigned char)(~row >> 8);
            *p++ = 0; /* filter: none */
            const unsigned char *px = img->pixels + (size_t)y * img->stride;
            for (size_t i = 0; i < row - 1; i++) *p++ = px[i];
            for (size_t i = 0; i < row; i++) a = (a + p[(long)i - (long)row]) % 65521, b = (b + a) % 65521;
        }
        put32(p, (b << 16) | a), p += 4;
        ok = fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) == 8 && chunk(f, "IHDR", ihdr, 13) &&
             chunk(f, "IDAT", z, (size_t)(p - z)) && chunk(f, "IEND", NULL, 0);
    }
    if (f && fclose(f)) ok = 0;
    free(z);
    return ok;
}

static int on_step(void *user, const ig_progress *p) {
    (void)user;
    fprintf(stderr, "\rstep %d/%d", p->step, p->n_steps);
    if (p->step == p->n_steps) fputc('\n', stderr);
    return 0; /* non-zero would cancel */
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s MODEL PROMPT OUT.png [SEED]   (libimagine %s)\n", argv[0], ig_version());
        return 2;
    }
    ig_err err = {0};
    ig_model *m = NULL;
    ig_image *img = NULL;
    ig_model_info info;
    int rc = 1;
    if (ig_model_open(&m, argv[1][0] == '-' && !argv[1][1] ? NULL : argv[1], NULL, &err) != IG_OK) goto done;
    ig_model_describe(m, &info);
    ig_gen_params p = IG_GEN_PARAMS_INIT;
    p.prompt = argv[2];
    p.width = info.native_width, p.height = info.native_height;
    p.n_steps = info.default_steps, p.guidance = info.default_guidance, p.sampler = info.default_sampler;
    p.seed = argc == 5 ? strtoull(argv[4], NULL, 10) : 42;
    p.progress = on_step;
    ig_gen_info gi;
    if (ig_generate(m, &p, &img, &gi, &err) != IG_OK) goto done;
    if (!write_png(argv[3], img)) {
        fprintf(stderr, "%s: cannot write %s\n", argv[0], argv[3]);
        goto done;
    }
    fprintf(stderr, "%s: %dx%d %s model, %d steps of %s, %.2f s -> %s\n", argv[0], img->width, img->height,
            ig_family_name(info.family), gi.n_steps, ig_sampler_name(p.sampler), gi.seconds, argv[3]);
    rc = 0;
done:
    if (err.status) fprintf(stderr, "%s: %s (%s)\n", argv[0], err.msg, ig_status_name(err.status));
    ig_image_free(img);
    ig_model_close(m);
    return rc;
}
