/* imagine — self-hosted image generation (OpenAI / Gradient image API) on its own engine.
 *
 * This is the only public header. It grows with the pipeline; today it holds the status codes
 * every layer returns and the version.
 *
 *     ig_err err = {0};
 *     if (ig_engine_init(&err) != IG_OK) fprintf(stderr, "%s\n", err.msg);
 */
#ifndef IMAGINE_H
#define IMAGINE_H

#define IG_VERSION "0.1.0"

/* Every fallible function returns one of these and writes a message into the ig_err it was given. */
typedef enum ig_status {
    IG_OK = 0,
    IG_ERR_INVALID,     /* bad argument or input (shape mismatch, bad file contents) */
    IG_ERR_IO,          /* open/read/mmap/write failed */
    IG_ERR_NOMEM,       /* allocation failed */
    IG_ERR_UNSUPPORTED, /* valid but not implemented here (dtype, layout, backend) */
    IG_ERR_BACKEND,     /* the kernel library (oneDNN, cuDNN) refused */
    IG_ERR_NOT_FOUND,   /* a named thing (tensor, file, model) does not exist */
    IG_ERR_CANCELLED,   /* the caller's progress callback asked to stop */
} ig_status;

typedef struct ig_err {
    ig_status status;
    char msg[512];
} ig_err;

#endif
