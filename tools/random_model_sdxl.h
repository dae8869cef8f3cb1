/* random_model_sdxl.h — the configs of stabilityai/stable-diffusion-xl-base-1.0 and sdxl-turbo,
 * written as facts from their public files, for make_random_model.c (included once, after its
 * write_text; not a library header). The tensors come from models/family_sdxl.c's description of
 * these configs, as for the SD variants.
 *   unet            block_out 320/640/1280, layers_per_block 2, transformer depths [1, 2, 10] (the
 *                   first level has none: DownBlock2D), attention_head_dim [5, 10, 20] (diffusers
 *                   reads it as the head count: 64 channels per head), cross_attention_dim 2048,
 *                   text_time addition (addition_time_embed_dim 256, projection input 2816 =
 *                   1280 pooled + 6 x 256), sample_size 128 (turbo: 64)
 *   text_encoder    CLIP ViT-L/14 text model: 768 wide, 12 layers, 12 heads, quick_gelu
 *   text_encoder_2  OpenCLIP bigG text model with projection: 1280 wide, 32 layers, 20 heads, gelu,
 *                   projection_dim 1280
 *   vae             SD's layout (128/256/512/512) with scaling_factor 0.13025 (sdxl-vae)
 *   tokenizer       pads with <|endoftext|>; tokenizer_2 pads with "!" (id 0, in added_tokens_decoder)
 *   scheduler       base: EulerDiscreteScheduler, leading spacing; turbo: EulerAncestralDiscreteScheduler,
 *                   trailing spacing */

static const char SCHED_SDXL[] =
    "{\n"
    "  \"_class_name\": \"EulerDiscreteScheduler\",\n"
    "  \"_diffusers_version\": \"0.19.0.dev0\",\n"
    "  \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\",\n"
    "  \"beta_start\": 0.00085,\n"
    "  \"clip_sample\": false,\n"
    "  \"interpolation_type\": \"linear\",\n"
    "  \"num_train_timesteps\": 1000,\n"
    "  \"prediction_type\": \"epsilon\",\n"
    "  \"sample_max_value\": 1.0,\n"
    "  \"set_alpha_to_one\": false,\n"
    "  \"skip_prk_steps\": true,\n"
    "  \"steps_offset\": 1,\n"
    "  \"timestep_spacing\": \"leading\",\n"
    "  \"trained_betas\": null,\n"
    "  \"use_karras_sigmas\": false\n"
    "}\n";

static const char SCHED_SDXL_TURBO[] =
    "{\n"
    "  \"_class_name\": \"EulerAncestralDiscreteScheduler\",\n"
    "  \"_diffusers_version\": \"0.24.0.dev0\",\n"
    "  \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\",\n"
    "  \"beta_start\": 0.00085,\n"
    "  \"clip_sample\": false,\n"
    "  \"interpolation_type\": \"linear\",\n"
    "  \"num_train_timesteps\": 1000,\n"
    "  \"prediction_type\": \"epsilon\",\n"
    "  \"sample_max_value\": 1.0,\n"
    "  \"set_alpha_to_one\": false,\n"
    "  \"skip_prk_steps\": true,\n"
    "  \"steps_offset\": 1,\n"
    "  \"timestep_spacing\": \"trailing\",\n"
    "  \"trained_betas\": null,\n"
    "  \"use_karras_sigmas\": false\n"
    "}\n";

#define XL_TOKEN(name, content, normalized)                                                        \
    "  \"" name "\": {\"content\": \"" content "\", \"lstrip\": false, \"normalized\": " normalized \
    ", \"rstrip\": false, \"single_word\": false}"
#define XL_ADDED(id, content, normalized)                                                          \
    "    \"" id "\": {\"content\": \"" content "\", \"lstrip\": false, \"normalized\": " normalized  \
    ", \"rstrip\": false, \"single_word\": false, \"special\": true}"

static ig_status write_tokenizer_xl(const char *dir, const char *sub, bool bang, ig_err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/special_tokens_map.json", dir, sub);
    if (write_text(path,
                   bang ? "{\n" XL_TOKEN("bos_token", "<|startoftext|>", "true") ",\n" XL_TOKEN(
                              "eos_token", "<|endoftext|>", "true") ",\n" XL_TOKEN("pad_token", "!", "false") ",\n" XL_TOKEN("unk_token", "<|endoftext|>", "true") "\n}\n"
                        : "{\n" XL_TOKEN("bos_token", "<|startoftext|>", "true") ",\n" XL_TOKEN(
                              "eos_token", "<|endoftext|>", "true") ",\n  \"pad_token\": \"<|endoftext|>\",\n" XL_TOKEN("unk_token", "<|endoftext|>", "true") "\n}\n",
                   err))
        return err->status;
    snprintf(path, sizeof path, "%s/%s/tokenizer_config.json", dir, sub);
    if (write_text(path,
                   bang ? "{\n  \"add_prefix_space\": false,\n  \"added_tokens_decoder\": {\n" XL_ADDED("0", "!", "false") ",\n" XL_ADDED(
                              "49406", "<|startoftext|>", "true") ",\n" XL_ADDED("49407", "<|endoftext|>", "true") "\n  },\n"
                              "  \"bos_token\": \"<|startoftext|>\",\n  \"clean_up_tokenization_spaces\": true,\n"
                              "  \"do_lower_case\": true,\n  \"eos_token\": \"<|endoftext|>\",\n  \"errors\": \"replace\",\n"
                              "  \"model_max_length\": 77,\n  \"pad_token\": \"!\",\n  \"tokenizer_class\": \"CLIPTokenizer\",\n"
                              "  \"unk_token\": \"<|endoftext|>\"\n}\n"
                        : "{\n  \"add_prefix_space\": false,\n  \"added_tokens_decoder\": {\n" XL_ADDED(
                              "49406", "<|startoftext|>", "true") ",\n" XL_ADDED("49407", "<|endoftext|>", "true") "\n  },\n"
                              "  \"bos_token\": \"<|startoftext|>\",\n  \"clean_up_tokenization_spaces\": true,\n"
                              "  \"do_lower_case\": true,\n  \"eos_token\": \"<|endoftext|>\",\n  \"errors\": \"replace\",\n"
                              "  \"model_max_length\": 77,\n  \"pad_token\": \"<|endoftext|>\",\n"
                              "  \"tokenizer_class\": \"CLIPTokenizer\",\n  \"unk_token\": \"<|endoftext|>\"\n}\n",
                   err))
        return err->status;
    return IG_OK;
}

/* a text encoder's config.json: CLIPTextModel (CLIP-L) or CLIPTextModelWithProjection (bigG) */
static ig_status write_text_config_xl(const char *path, bool big, ig_err *err) {
    char text[2048];
    snprintf(text, sizeof text,
             "{\n"
             "  \"architectures\": [\"%s\"],\n"
             "  \"attention_dropout\": 0.0,\n"
             "  \"bos_token_id\": 0,\n"
             "  \"dropout\": 0.0,\n"
             "  \"eos_token_id\": 2,\n"
             "  \"hidden_act\": \"%s\",\n"
             "  \"hidden_size\": %d,\n"
             "  \"initializer_factor\": 1.0,\n"
             "  \"initializer_range\": 0.02,\n"
             "  \"intermediate_size\": %d,\n"
             "  \"layer_norm_eps\": 1e-05,\n"
             "  \"max_position_embeddings\": 77,\n"
             "  \"model_type\": \"clip_text_model\",\n"
             "  \"num_attention_heads\": %d,\n"
             "  \"num_hidden_layers\": %d,\n"
             "  \"pad_token_id\": 1,\n"
             "  \"projection_dim\": %d,\n"
             "  \"torch_dtype\": \"float16\",\n"
             "  \"transformers_version\": \"4.32.0.dev0\",\n"
             "  \"vocab_size\": 49408\n"
             "}\n",
             big ? "CLIPTextModelWithProjection" : "CLIPTextModel", big ? "gelu" : "quick_gelu", big ? 1280 : 768,
             big ? 5120 : 3072, big ? 20 : 12, big ? 32 : 12, big ? 1280 : 768);
    return write_text(path, text, err);
}

static ig_status write_configs_xl(const char *dir, bool turbo, ig_err *err) {
    char path[1200], text[8192];
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"_class_name\": \"StableDiffusionXLPipeline\",\n"
             "  \"_diffusers_version\": \"0.19.0.dev0\",\n"
             "  \"force_zeros_for_empty_prompt\": true,\n"
             "  \"scheduler\": [\"diffusers\", \"%s\"],\n"
             "  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
             "  \"text_encoder_2\": [\"transformers\", \"CLIPTextModelWithProjection\"],\n"
             "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
             "  \"tokenizer_2\": [\"transformers\", \"CLIPTokenizer\"],\n"
             "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n"
             "  \"vae\": [\"diffusers\", \"AutoencoderKL\"]\n"
             "}\n",
             turbo ? "EulerAncestralDiscreteScheduler" : "EulerDiscreteScheduler");
    if (write_text(path, text, err)) return err->status;

    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    snprintf(text, sizeof text,
             "{\n"
             "  \"_class_name\": \"UNet2DConditionModel\",\n"
             "  \"_diffusers_version\": \"0.19.0.dev0\",\n"
             "  \"act_fn\": \"silu\",\n"
             "  \"addition_embed_type\": \"text_time\",\n"
             "  \"addition_embed_type_num_heads\": 64,\n"
             "  \"addition_time_embed_dim\": 256,\n"
             "  \"attention_head_dim\": [5, 10, 20],\n"
             "  \"block_out_channels\": [320, 640, 1280],\n"
             "  \"center_input_sample\": false,\n"
             "  \"class_embed_type\": null,\n"
             "  \"class_embeddings_concat\": false,\n"
             "  \"conv_in_kernel\": 3,\n"
             "  \"conv_out_kernel\": 3,\n"
             "  \"cross_attention_dim\": 2048,\n"
             "  \"cross_attention_norm\": null,\n"
             "  \"down_block_types\": [\"DownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\"],\n"
             "  \"downsample_padding\": 1,\n"
             "  \"dual_cross_attention\": false,\n"
             "  \"encoder_hid_dim\": null,\n"
             "  \"encoder_hid_dim_type\": null,\n"
             "  \"flip_sin_to_cos\": true,\n"
             "  \"freq_shift\": 0,\n"
             "  \"in_channels\": 4,\n"
             "  \"layers_per_block\": 2,\n"
             "  \"mid_block_only_cross_attention\": null,\n"
             "  \"mid_block_scale_factor\": 1,\n"
             "  \"mid_block_type\": \"UNetMidBlock2DCrossAttn\",\n"
             "  \"norm_eps\": 1e-05,\n"
             "  \"norm_num_groups\": 32,\n"
             "  \"num_attention_heads\": null,\n"
             "  \"num_class_embeds\": null,\n"
             "  \"only_cross_attention\": false,\n"
             "  \"out_channels\": 4,\n"
             "  \"projection_class_embeddings_input_dim\": 2816,\n"
             "  \"resnet_out_scale_factor\": 1.0,\n"
             "  \"resnet_skip_time_act\": false,\n"
             "  \"resnet_time_scale_shift\": \"default\",\n"
             "  \"sample_size\": %d,\n"
             "  \"time_cond_proj_dim\": null,\n"
             "  \"time_embedding_act_fn\": null,\n"
             "  \"time_embedding_dim\": null,\n"
             "  \"time_embedding_type\": \"positional\",\n"
             "  \"timestep_post_act\": null,\n"
             "  \"transformer_layers_per_block\": [1, 2, 10],\n"
             "  \"up_block_types\": [\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\"],\n"
             "  \"upcast_attention\": null,\n"
             "  \"use_linear_projection\": true\n"
             "}\n",
             turbo ? 64 : 128);
    if (write_text(path, text, err)) return err->status;

    if (write_vae_config(dir, "0.20.0.dev0", turbo ? 512 : 1024, 0.13025, err)) return err->status;

    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    if (write_text_config_xl(path, false, err)) return err->status;
    snprintf(path, sizeof path, "%s/text_encoder_2/config.json", dir);
    if (write_text_config_xl(path, true, err)) return err->status;
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    if (write_text(path, turbo ? SCHED_SDXL_TURBO : SCHED_SDXL, err)) return err->status;
    if (write_tokenizer_xl(dir, "tokenizer", false, err) || write_tokenizer_xl(dir, "tokenizer_2", true, err))
        return err->status;
    return IG_OK;
}
