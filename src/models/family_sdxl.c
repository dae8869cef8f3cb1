/* family_sdxl.c — the SDXL / SDXL-Turbo description: text_encoder (HF CLIPTextModel, CLIP ViT-L),
 * text_encoder_2 (HF CLIPTextModelWithProjection, OpenCLIP bigG), the UNet (UNet2DConditionModel with
 * per-block transformer depth and the text_time add_embedding) and the VAE, walked by family_sd.c's
 * walkers, each tensor with its place in an original single-file checkpoint (sd_xl_base_1.0.safetensors
 * layout, as diffusers' single_file_utils.py converts it):
 *   text_encoder    conditioner.embedders.0.transformer.text_model.*   (HF names)
 *   text_encoder_2  conditioner.embedders.1.model.*                    (OpenCLIP: resblocks, fused
 *                   in_proj split into q/k/v rows, ln_final, text_projection stored (hidden, proj),
 *                   the transpose of HF's Linear weight)
 *   unet            model.diffusion_model.* (input/middle/output_blocks as SD, transformer_blocks.k
 *                   inside, add_embedding.linear_1/2 = label_emb.0.0/0.2)
 *   vae             first_stage_model.*
 * Unlike SD 2.x's file, SDXL's keeps every resblock of bigG: the pooled output needs the last layer.
 * See family.h. */
#include "family.h"

#include <stdio.h>

ig_status ig__fam_sdxl_tensors(const ig_fam_arch *a, ig_fam_part p, ig_fam_list *out, ig_err *err) {
    bool ok;
    out->part = p;
    switch (p) {
    case IG_FAM_TEXT:
        snprintf(out->ldm_prefix, sizeof out->ldm_prefix, "conditioner.embedders.0.transformer.");
        ok = ig__fam_walk_text(out, &a->text, IG_FAM_NAMES_HF);
        break;
    case IG_FAM_TEXT2:
        if (a->text2.projection_dim < 1)
            return ig__fail(err, IG_ERR_INVALID, "SDXL's text_encoder_2 needs a projection (projection_dim > 0)");
        snprintf(out->ldm_prefix, sizeof out->ldm_prefix, "conditioner.embedders.1.model.");
        ok = ig__fam_walk_text(out, &a->text2, IG_FAM_NAMES_OPENCLIP);
        break;
    case IG_FAM_UNET:
        if (a->unet.add_time_dim < 1)
            return ig__fail(err, IG_ERR_INVALID, "an SDXL UNet has addition_embed_type \"text_time\"");
        snprintf(out->ldm_prefix, sizeof out->ldm_prefix, "model.diffusion_model.");
        ok = ig__fam_walk_unet(out, &a->unet);
        break;
    case IG_FAM_VAE:
        snprintf(out->ldm_prefix, sizeof out->ldm_prefix, "first_stage_model.");
        ok = ig__fam_walk_vae(out, &a->vae);
        break;
    default: return ig__fail(err, IG_ERR_INVALID, "no model part %d", (int)p);
    }
    if (!ok) return ig__fail(err, IG_ERR_NOMEM, "out of memory listing the %s's tensors", ig_fam_part_name(p));
    return IG_OK;
}
