/* test_cli.c — `imagine generate` as a user runs it: the SD-Turbo golden run of sd2-tiny from the
 * command line (final latents within 1e-3 of diffusers', relative to max(1, max|ref|); a PNG of the
 * right size written), and bad arguments refused with exit status 2 and a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static int run(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t read_file(const char *path, void *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

int main(void) {
    const char *bin = getenv("IMAGINE_BIN") ? getenv("IMAGINE_BIN") : "build/imagine";
    const char *shared = test_shared_dir();
    char dir[] = "/tmp/imagine_cli_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char cmd[4096], png[512], lat[512], ref_path[1024];
    snprintf(png, sizeof png, "%s/turbo.png", dir);
    snprintf(lat, sizeof lat, "%s/turbo.bin", dir);
    snprintf(cmd, sizeof cmd,
             "%s generate --model %s/golden/sd2-tiny/model --prompt 'a photograph of an astronaut riding a horse' "
             "--steps 1 --cfg 0 --sampler turbo --seed 4 --width 64 --height 64 --precision f32 --out %s "
             "--out-latent %s",
             bin, shared, png, lat);
    CHECK(run(cmd) == 0);
    float got[256], ref[256];
    snprintf(ref_path, sizeof ref_path, "%s/golden/sd2-tiny/cases/pipe_turbo_euler_a_trailing_1step_cfg0_final_latents.bin",
             shared);
    CHECK(read_file(lat, got, sizeof got) == sizeof got);
    CHECK(read_file(ref_path, ref, sizeof ref) == sizeof ref);
    double r[256], mx = 1;
    for (int i = 0; i < 256; i++) r[i] = ref[i], mx = fmax(mx, fabs(r[i]));
    check_close("generate --out-latent vs diffusers (sd2-tiny turbo)", got, r, 256, 1e-3 * mx, 0);
    unsigned char head[24] = {0};
    CHECK(read_file(png, head, sizeof head) == sizeof head);
    CHECK(memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0);
    /* IHDR width and height, big-endian, at bytes 16..23 */
    CHECK(head[16] == 0 && head[17] == 0 && head[18] == 0 && head[19] == 64 && head[23] == 64);

    /* refused arguments: status 2, nothing written */
    const char *bad[] = {"generate --prompt x --n 0", "generate --model /nonexistent --prompt x --width 63",
                         "generate --model /x --prompt x --steps abc", "generate --model /x --sampler nope",
                         "frobnicate"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", bin, bad[i]);
        int rc = run(cmd);
        if (rc != 2) fprintf(stderr, "  '%s' exited %d, want 2\n", bad[i], rc);
        CHECK(rc == 2);
    }
    /* without --model the built-in model is used; where it is missing, a failure naming it */
    snprintf(cmd, sizeof cmd, "IMAGINE_ASSETS=%s/no-assets %s generate --prompt x 2>%s/err0.txt", dir, bin, dir);
    CHECK(run(cmd) == 1);
    {
        char m0[512] = {0}, p0[600];
        snprintf(p0, sizeof p0, "%s/err0.txt", dir);
        read_file(p0, m0, sizeof m0 - 1);
        CHECK(strstr(m0, "no-assets/imagine-emoji") != NULL);
    }
    /* a missing model folder is a clear failure (status 1), not a crash */
    snprintf(cmd, sizeof cmd, "%s generate --model %s/nothing-here --prompt x 2>%s/err.txt", bin, dir, dir);
    CHECK(run(cmd) == 1);
    char msg[512] = {0}, errp[600];
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    read_file(errp, msg, sizeof msg - 1);
    CHECK(strstr(msg, "nothing-here") != NULL);

    /* any size: drawn at the model's native area (64x64 here), cut and resized to 96x40 as the server
     * does; --exact-size draws as asked, and 96 is no multiple of the UNet's 64 */
    char wide[600];
    snprintf(wide, sizeof wide, "%s/wide.png", dir);
    snprintf(cmd, sizeof cmd, "%s generate --model %s/golden/sd1-tiny/model --prompt x --steps 2 --width 96 --height 40 "
             "--out %s 2>%s/wide.txt", bin, shared, wide, dir);
    CHECK(run(cmd) == 0);
    unsigned char ih[24] = {0};
    CHECK(read_file(wide, ih, sizeof ih) == sizeof ih);
    CHECK(ih[18] == 0 && ih[19] == 96 && ih[22] == 0 && ih[23] == 40);
    snprintf(cmd, sizeof cmd, "%s generate --model %s/golden/sd1-tiny/model --prompt x --steps 2 --width 96 --height 40 "
             "--exact-size --out %s/exact.png 2>/dev/null", bin, shared, dir);
    CHECK(run(cmd) == 1);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
    return test_finish("test_cli");
}
