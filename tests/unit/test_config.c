/* test_config.c — io/config: the golden sd1-tiny / sd2-tiny configs (unet, vae, text_encoder,
 * scheduler, model_index) read back with the values their READMEs state, then every kind of bad
 * file and bad value: each must fail with the file and the key in the message, never crash. */
#include "io/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "test.h"

static ig_config *load(const char *set, const char *file) {
    char path[512];
    ig_config *c = NULL;
    ig_err err = {0};
    snprintf(path, sizeof path, "%s/golden/%s/model/%s", test_shared_dir(), set, file);
    CHECK(ig_config_load(&c, path, &err) == IG_OK);
    if (!c) fprintf(stderr, "%s\n", err.msg);
    return c;
}

static void unet(const char *set, bool linear_proj) {
    ig_config *c = load(set, "unet/config.json");
    ig_err err = {0};
    int ch[8], n_ch = 0, heads[8], in_ch = 0, groups = 0, layers = 0, cross = 0, n_types = 0, n_up = 0, tlayers[8];
    double eps = 0, scale = 0;
    bool lin = !linear_proj, flip = false;
    const char *act = NULL, *down[8], *up[8], *missing = "x";
    if (!c) return;
    ig_config_int_list(c, "block_out_channels", ch, 8, &n_ch, &err);
    ig_config_int_or_list(c, "attention_head_dim", 8, n_ch, heads, &err);
    ig_config_int_or_list(c, "transformer_layers_per_block", 1, n_ch, tlayers, &err);
    ig_config_int(c, "in_channels", 0, &in_ch, &err);
    ig_config_int(c, "norm_num_groups", 32, &groups, &err);
    ig_config_int(c, "layers_per_block", 0, &layers, &err);
    ig_config_int(c, "cross_attention_dim", 0, &cross, &err);
    ig_config_float(c, "norm_eps", 0, &eps, &err);
    ig_config_float(c, "mid_block_scale_factor", 0, &scale, &err); /* written as the integer 1 */
    ig_config_bool(c, "use_linear_projection", false, &lin, &err);
    ig_config_bool(c, "flip_sin_to_cos", false, &flip, &err);
    ig_config_string(c, "act_fn", NULL, &act, &err);
    ig_config_string(c, "class_embed_type", "none", &missing, &err); /* null -> the default */
    ig_config_string_list(c, "down_block_types", down, 8, &n_types, &err);
    ig_config_string_list(c, "up_block_types", up, 8, &n_up, &err);
    CHECK(err.status == IG_OK);
    if (err.status) fprintf(stderr, "%s\n", err.msg);
    CHECK(n_ch == 4 && ch[0] == 32 && ch[1] == 64 && ch[2] == 64 && ch[3] == 64);
    CHECK(heads[0] == 8 && heads[3] == 8 && tlayers[0] == 1 && tlayers[3] == 1);
    CHECK(in_ch == 4 && groups == 8 && layers == 2 && cross == 64);
    CHECK(eps == 1e-5 && scale == 1.0 && lin == linear_proj && flip);
    CHECK(act && !strcmp(act, "silu") && !strcmp(missing, "none"));
    CHECK(n_types == 4 && !strcmp(down[0], "CrossAttnDownBlock2D") && !strcmp(down[3], "DownBlock2D"));
    CHECK(n_up == 4 && !strcmp(up[0], "UpBlock2D") && !strcmp(up[3], "CrossAttnUpBlock2D"));
    CHECK(ig_config_has(c, "sample_size") && !ig_config_has(c, "num_class_embeds") && !ig_config_has(c, "nope"));
    printf("  %s unet: block_out_channels [%d,%d,%d,%d], heads %d, groups %d, eps %g, linear proj %d, %s\n", set,
           ch[0], ch[1], ch[2], ch[3], heads[0], groups, eps, lin, down[0]);
    ig_config_free(c);
}

static void vae_text_sched(const char *set, const char *act_want, const char *pred_want, const char *sched_class) {
    ig_config *v = load(set, "vae/config.json"), *t = load(set, "text_encoder/config.json"),
              *s = load(set, "scheduler/scheduler_config.json"), *m = load(set, "model_index.json");
    ig_err err = {0};
    int ch[8], n_ch = 0, latent = 0, hidden = 0, n_layers = 0, n_heads = 0, n_pos = 0, steps = 0, offset = 0, n_betas = 5;
    int n_lib = 0, n_fe = 0;
    double sf = 0, ln_eps = 0, b0 = 0, b1 = 0, betas[4];
    bool clip_sample = true;
    const char *act = NULL, *pred = NULL, *sched = NULL, *schedule = NULL, *lib[4], *fe[4];
    if (!v || !t || !s || !m) goto done;
    ig_config_int_list(v, "block_out_channels", ch, 8, &n_ch, &err);
    ig_config_int(v, "latent_channels", 0, &latent, &err);
    ig_config_float(v, "scaling_factor", 0, &sf, &err);
    ig_config_int(t, "hidden_size", 0, &hidden, &err);
    ig_config_int(t, "num_hidden_layers", 0, &n_layers, &err);
    ig_config_int(t, "num_attention_heads", 0, &n_heads, &err);
    ig_config_int(t, "max_position_embeddings", 0, &n_pos, &err);
    ig_config_float(t, "layer_norm_eps", 0, &ln_eps, &err);
    ig_config_string(t, "hidden_act", NULL, &act, &err);
    ig_config_float(s, "beta_start", 0, &b0, &err);
    ig_config_float(s, "beta_end", 0, &b1, &err);
    ig_config_int(s, "num_train_timesteps", 0, &steps, &err);
    ig_config_int(s, "steps_offset", 0, &offset, &err);
    ig_config_bool(s, "clip_sample", true, &clip_sample, &err);
    ig_config_string(s, "prediction_type", "epsilon", &pred, &err);
    ig_config_string(s, "beta_schedule", NULL, &schedule, &err);
    ig_config_string(s, "_class_name", NULL, &sched, &err);
    ig_config_float_list(s, "trained_betas", betas, 4, &n_betas, &err); /* null -> empty */
    ig_config_string_list(m, "scheduler", lib, 4, &n_lib, &err);
    ig_config_string_list(m, "feature_extractor", fe, 4, &n_fe, &err); /* [null, null] */
    CHECK(err.status == IG_OK);
    if (err.status) fprintf(stderr, "%s\n", err.msg);
    CHECK(n_ch == 4 && ch[0] == 32 && ch[1] == 32 && ch[2] == 64 && latent == 4 && sf == 0.18215);
    CHECK(hidden == 64 && n_layers == 2 && n_heads == 4 && n_pos == 77 && ln_eps == 1e-5);
    CHECK(act && !strcmp(act, act_want));
    CHECK(b0 == 0.00085 && b1 == 0.012 && steps == 1000 && offset == 1 && !clip_sample && n_betas == 0);
    CHECK(pred && !strcmp(pred, pred_want) && schedule && !strcmp(schedule, "scaled_linear"));
    CHECK(sched && !strcmp(sched, sched_class));
    CHECK(n_lib == 2 && !strcmp(lib[0], "diffusers") && !strcmp(lib[1], sched_class));
    CHECK(n_fe == 2 && fe[0] == NULL && fe[1] == NULL);
    printf("  %s vae scaling %.5f, text %s x%d, scheduler %s %s betas %g..%g\n", set, sf, act ? act : "?", n_layers,
           sched ? sched : "?", pred ? pred : "?", b0, b1);
done:
    ig_config_free(v);
    ig_config_free(t);
    ig_config_free(s);
    ig_config_free(m);
}

/* Parses json (from memory), calls the getter named by `which` on key, and expects want with the
 * label and the key in the message. */
static void expect_bad(const char *json, const char *which, const char *key, ig_status want, const char *must_contain) {
    ig_config *c = NULL;
    ig_err err = {0};
    ig_status st = ig_config_parse(&c, json, strlen(json), "bad.json", &err);
    if (st == IG_OK) {
        int i = 7, li[4], n = 9;
        double d = 7, ld[4];
        bool b = true;
        const char *s = "def", *ls[4];
        if (!strcmp(which, "int")) st = ig_config_int(c, key, 7, &i, &err);
        else if (!strcmp(which, "float")) st = ig_config_float(c, key, 7, &d, &err);
        else if (!strcmp(which, "bool")) st = ig_config_bool(c, key, true, &b, &err);
        else if (!strcmp(which, "string")) st = ig_config_string(c, key, "def", &s, &err);
        else if (!strcmp(which, "int_list")) st = ig_config_int_list(c, key, li, 4, &n, &err);
        else if (!strcmp(which, "float_list")) st = ig_config_float_list(c, key, ld, 4, &n, &err);
        else if (!strcmp(which, "string_list")) st = ig_config_string_list(c, key, ls, 4, &n, &err);
        else if (!strcmp(which, "int_or_list")) st = ig_config_int_or_list(c, key, 7, 4, li, &err), n = li[3] == 7 ? 0 : 1;
        CHECK(i == 7 && d == 7 && b && !strcmp(s, "def")); /* on error the default stays */
        CHECK(n == 0 || n == 9);
    }
    int ok = st == want && err.status == want && strstr(err.msg, "bad.json") && strstr(err.msg, must_contain);
    test_checks++;
    if (!ok) test_failures++;
    fprintf(ok ? stdout : stderr, "  %-12s %-28s -> %s%s\n", which, json, err.msg, ok ? "" : "  FAIL");
    ig_config_free(c);
}

static void bad_values(void) {
    expect_bad("{\"a\": 1,", "int", "a", IG_ERR_INVALID, "bad.json:1:");
    expect_bad("[1, 2]", "int", "a", IG_ERR_INVALID, "top level");
    expect_bad("", "int", "a", IG_ERR_INVALID, "invalid JSON");
    expect_bad("{\"a\": \"4\"}", "int", "a", IG_ERR_INVALID, "\"a\": expected an integer (int range), got the string \"4\"");
    expect_bad("{\"a\": 1.5}", "int", "a", IG_ERR_INVALID, "got 1.5");
    expect_bad("{\"a\": 3000000000}", "int", "a", IG_ERR_INVALID, "got 3000000000");
    expect_bad("{\"a\": true}", "int", "a", IG_ERR_INVALID, "got true");
    expect_bad("{\"a\": NaN}", "int", "a", IG_ERR_INVALID, "got NaN");
    expect_bad("{\"a\": \"1e-5\"}", "float", "a", IG_ERR_INVALID, "expected a number");
    expect_bad("{\"a\": [1]}", "float", "a", IG_ERR_INVALID, "got an array of 1");
    expect_bad("{\"a\": 1}", "bool", "a", IG_ERR_INVALID, "expected true or false, got 1");
    expect_bad("{\"a\": \"true\"}", "bool", "a", IG_ERR_INVALID, "\"a\"");
    expect_bad("{\"a\": 5}", "string", "a", IG_ERR_INVALID, "expected a string, got 5");
    expect_bad("{\"a\": -Infinity}", "string", "a", IG_ERR_INVALID, "got -Infinity");
    expect_bad("{\"a\": {\"b\": 1}}", "string", "a", IG_ERR_INVALID, "got an object");
    expect_bad("{\"a\": 32}", "int_list", "a", IG_ERR_INVALID, "expected an array of integers");
    expect_bad("{\"a\": [32, \"x\"]}", "int_list", "a", IG_ERR_INVALID, "\"a\"[1]: expected an integer");
    expect_bad("{\"a\": [1, 2, 3, 4, 5]}", "int_list", "a", IG_ERR_INVALID, "at most 4 elements, got 5");
    expect_bad("{\"a\": [0.1, null]}", "float_list", "a", IG_ERR_INVALID, "\"a\"[1]: expected a number, got null");
    expect_bad("{\"a\": [\"x\", 1]}", "string_list", "a", IG_ERR_INVALID, "\"a\"[1]: expected a string or null");
    expect_bad("{\"a\": [5, 10]}", "int_or_list", "a", IG_ERR_INVALID, "a list of 4, got a list of 2");
    expect_bad("{\"a\": [5, 10, 2.5, 1]}", "int_or_list", "a", IG_ERR_INVALID, "\"a\"[2]");
    expect_bad("{\"a\": \"8\"}", "int_or_list", "a", IG_ERR_INVALID, "expected an integer or a list of integers");
}

static void good_values(void) {
    /* Python's json tokens, integral reals, nulls, int-or-list both ways, strings with escapes
     * (a quoted "NaN" stays a string, a bare NaN inside a string is text). */
    static const char json[] = "{\"lambda_min_clipped\": -Infinity, \"x\": Infinity, \"y\": NaN, \"s\": \"NaN\","
                               " \"t\": \"a \\\"NaN\\\" -Infinity\", \"size\": 64.0, \"n\": null, \"heads\": [5, 10, 20, 20],"
                               " \"one\": 8, \"betas\": [0.1, 1, -Infinity], \"e\": [] }";
    ig_config *c = NULL;
    ig_err err = {0};
    CHECK(ig_config_parse(&c, json, strlen(json), NULL, &err) == IG_OK);
    if (!c) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    double lmc = 0, x = 0, y = 0, betas[4];
    int size = 0, n = 5, heads[4], one[4], n_betas = 0, n_e = 7, li[2];
    const char *s = NULL, *t = NULL;
    ig_config_float(c, "lambda_min_clipped", 0, &lmc, &err);
    ig_config_float(c, "x", 0, &x, &err);
    ig_config_float(c, "y", 0, &y, &err);
    ig_config_string(c, "s", NULL, &s, &err);
    ig_config_string(c, "t", NULL, &t, &err);
    ig_config_int(c, "size", 0, &size, &err);
    ig_config_int(c, "n", 5, &n, &err);
    ig_config_int_or_list(c, "heads", 8, 4, heads, &err);
    ig_config_int_or_list(c, "one", 1, 4, one, &err);
    ig_config_float_list(c, "betas", betas, 4, &n_betas, &err);
    ig_config_int_list(c, "e", li, 2, &n_e, &err);
    CHECK(err.status == IG_OK);
    if (err.status) fprintf(stderr, "%s\n", err.msg);
    CHECK(isinf(lmc) && lmc < 0 && isinf(x) && x > 0 && isnan(y));
    CHECK(s && !strcmp(s, "NaN") && t && !strcmp(t, "a \"NaN\" -Infinity"));
    CHECK(size == 64 && n == 5 && !ig_config_has(c, "n"));
    CHECK(heads[0] == 5 && heads[1] == 10 && heads[3] == 20 && one[0] == 8 && one[3] == 8);
    CHECK(n_betas == 3 && betas[0] == 0.1 && betas[1] == 1 && isinf(betas[2]) && n_e == 0);
    CHECK(!strcmp(ig_config_path(c), "<memory>"));

    /* Sticky: after the first error, getters read nothing and keep the first message. */
    int a = 0, b = 0;
    ig_config_int(c, "s", 1, &a, &err); /* a string: fails */
    char first[sizeof err.msg];
    snprintf(first, sizeof first, "%s", err.msg);
    CHECK(ig_config_int(c, "size", 2, &b, &err) == IG_ERR_INVALID && b == 2 && a == 1);
    CHECK(!strcmp(err.msg, first));
    ig_config_free(c);
    ig_config_free(NULL);
}

static void bad_files(void) {
    char dir[64], path[128];
    ig_config *c = (ig_config *)1;
    ig_err err = {0};
    snprintf(dir, sizeof dir, "/tmp/imagine-test-config-XXXXXX");
    if (!mkdtemp(dir)) return;
    snprintf(path, sizeof path, "%s/missing.json", dir);
    CHECK(ig_config_load(&c, path, &err) == IG_ERR_NOT_FOUND && c == NULL && strstr(err.msg, "missing.json"));
    printf("  missing file -> %s\n", err.msg);
    ig_err e2 = {0};
    CHECK(ig_config_load(&c, dir, &e2) == IG_ERR_IO && c == NULL && strstr(e2.msg, "regular file"));
    printf("  a directory  -> %s\n", e2.msg);
    snprintf(path, sizeof path, "%s/trunc.json", dir);
    FILE *fp = fopen(path, "wb");
    if (fp) fputs("{\n  \"in_channels\": 4,\n  \"block_out_channels\": [32, 64", fp), fclose(fp);
    ig_err e3 = {0};
    CHECK(ig_config_load(&c, path, &e3) == IG_ERR_INVALID && c == NULL && strstr(e3.msg, "trunc.json:3:"));
    printf("  truncated    -> %s\n", e3.msg);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    printf("golden configs\n");
    unet("sd1-tiny", false);
    unet("sd2-tiny", true);
    vae_text_sched("sd1-tiny", "quick_gelu", "epsilon", "PNDMScheduler");
    vae_text_sched("sd2-tiny", "gelu", "v_prediction", "DDIMScheduler");
    printf("good values\n");
    good_values();
    printf("bad values\n");
    bad_values();
    printf("bad files\n");
    bad_files();
    return test_finish("test_config");
}
