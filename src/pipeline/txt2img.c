/* txt2img.c — StableDiffusionPipeline.__call__ of diffusers 0.30 for SD 1.x / 2.x, as the stages of
 * run.h in order: encode the prompt, draw the latents, denoise, decode. */
#include "txt2img.h"

#include <string.h>

#include "run.h"

ig_status ig_txt2img(ig_engine *e, ig_sd_model *m, const ig_gen_params *p, float *latents_out, float *image_out,
                     int *n_tokens, ig_err *err) {
    ig_run r;
    if (ig_run_begin(&r, e, m, p, image_out != NULL, err) || ig_run_encode_text(&r, err) ||
        ig_run_prepare_latents(&r, err) || ig_run_denoise(&r, err))
        goto done;
    if (n_tokens) *n_tokens = r.n_tokens;
    if (latents_out) memcpy(latents_out, r.latents, r.n_lat * sizeof(float));
    if (image_out) ig_run_decode(&r, image_out, err);
done:
    ig_run_end(&r);
    return err->status;
}
