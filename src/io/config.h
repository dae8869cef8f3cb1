/* config.h — read the JSON configs of a diffusers / transformers model folder (unet/config.json,
 * vae/config.json, text_encoder/config.json, scheduler/scheduler_config.json, model_index.json).
 *
 * Owns: parsing (jansson), typed getters with defaults, and errors that name the file and the key.
 * Leaves to others: which keys a model reads and their defaults (models/, pipeline/), folder
 * layouts (io/modeldir.c).
 *
 *     ig_config *c = NULL;
 *     int groups = 0, ch[8], n_ch = 0, heads[8];
 *     double eps = 0;
 *     if (ig_config_load(&c, "unet/config.json", &err) != IG_OK) goto fail;
 *     ig_config_int(c, "norm_num_groups", 32, &groups, &err);
 *     ig_config_float(c, "norm_eps", 1e-5, &eps, &err);
 *     ig_config_int_list(c, "block_out_channels", ch, 8, &n_ch, &err);
 *     ig_config_int_or_list(c, "attention_head_dim", 8, n_ch, heads, &err);  // 8 or [5,10,20,20]
 *     if (err.status != IG_OK) goto fail;  // the first error is kept; later getters were no-ops
 *     ig_config_free(c);
 *
 * Rules every getter follows:
 *   - A missing key and a JSON null both give the default: diffusers writes null for "use the
 *     default" (class_embed_type, num_attention_heads, ...). ig_config_has tells them apart.
 *   - A value of the wrong type is IG_ERR_INVALID: "<file>: \"<key>\": expected ..., got ...".
 *   - The error is sticky: a getter called with err->status != IG_OK reads nothing, stores the
 *     default and returns err->status, so a loader can read many keys and check once.
 *   - *out always holds something after the call (the value, or the default).
 *   - Keys are top-level names; nested objects are not looked into.
 * Python's json writes -inf, inf and nan as the bare tokens -Infinity, Infinity and NaN (a saved
 * DPMSolverMultistepScheduler has "lambda_min_clipped": -Infinity); they are not JSON, but we read
 * them, as numbers for ig_config_float and ig_config_float_list.
 */
#ifndef IG_CONFIG_H
#define IG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "imagine.h"

typedef struct ig_config ig_config;

/* Reads and parses path; the top level must be a JSON object. Errors: IG_ERR_NOT_FOUND when the
 * file does not exist, IG_ERR_IO when it cannot be read, IG_ERR_INVALID (with line:column) when
 * it is not JSON or not an object. On failure *out is NULL. Caller frees with ig_config_free. */
ig_status ig_config_load(ig_config **out, const char *path, ig_err *err);

/* The same over len bytes of JSON in memory (copied; no NUL needed); label names it in messages. */
ig_status ig_config_parse(ig_config **out, const char *json, size_t len, const char *label, ig_err *err);

void ig_config_free(ig_config *c); /* accepts NULL; every string a getter returned dies with it */

const char *ig_config_path(const ig_config *c); /* the path (or label) it was read from */

/* True when key is present and not null. */
bool ig_config_has(const ig_config *c, const char *key);

/* A JSON integer that fits in int; a real with an integral value (64.0) is accepted too. */
ig_status ig_config_int(const ig_config *c, const char *key, int def, int *out, ig_err *err);
/* A JSON number (integer or real), or -Infinity / Infinity / NaN. */
ig_status ig_config_float(const ig_config *c, const char *key, double def, double *out, ig_err *err);
/* true or false (not 0/1, not strings). */
ig_status ig_config_bool(const ig_config *c, const char *key, bool def, bool *out, ig_err *err);
/* A string; *out points into c (or is def) and lives until ig_config_free. */
ig_status ig_config_string(const ig_config *c, const char *key, const char *def, const char **out, ig_err *err);

/* Lists: a JSON array of at most max_n elements into out[0..*n). Missing or null: *n = 0. An
 * array longer than max_n is an error, not a truncation. */
ig_status ig_config_int_list(const ig_config *c, const char *key, int *out, int max_n, int *n, ig_err *err);
ig_status ig_config_float_list(const ig_config *c, const char *key, double *out, int max_n, int *n, ig_err *err);
/* Elements are strings or null (model_index.json has [null, null]); null gives NULL. */
ig_status ig_config_string_list(const ig_config *c, const char *key, const char **out, int max_n, int *n,
                                ig_err *err);

/* A per-block setting that diffusers accepts as one int for every block or as a list, e.g.
 * attention_head_dim, num_attention_heads, transformer_layers_per_block, layers_per_block:
 * an int is repeated n times, a list must have exactly n ints; missing or null: def, n times.
 * Same as UNet2DConditionModel.__init__'s "if isinstance(x, int): x = (x,) * len(down_block_types)". */
ig_status ig_config_int_or_list(const ig_config *c, const char *key, int def, int n, int *out, ig_err *err);

#endif
