/* page.h — the playground page of `imagine serve` (issue 18): a few static files from
 * assets/playground, read once at startup and answered to GET/HEAD without a key.
 * Leaves routing, auth and logging to http.c. */
#ifndef IG_SERVER_PAGE_H
#define IG_SERVER_PAGE_H

#include <stddef.h>

typedef struct ig_page ig_page;

typedef struct ig_page_file {
    const char *url;  /* "/", "/playground", "/playground.js", ... */
    const char *type; /* Content-Type */
    char etag[24];    /* "\"<16 hex>\"", a hash of the bytes */
    char *data;
    size_t len;
} ig_page_file;

/* Reads the page's files from ig__asset_path("playground"). A missing or unreadable file is logged
 * on stderr (with its path: the log is the operator's) and leaves the page out: the result is NULL
 * and the page routes answer 404. Caller frees with ig__page_free. */
ig_page *ig__page_load(void);
void ig__page_free(ig_page *p);

/* The file served at url (the path, no query), or NULL when url is no page route. With p NULL
 * (the page is not installed) it still says whether url is a page route, through *is_page. */
const ig_page_file *ig__page_find(const ig_page *p, const char *url, int *is_page);

/* The Content-Security-Policy every page answer carries: only 'self' for scripts, styles and
 * connections; images also from blob: (the results and previews are decoded into blobs). */
#define IG_PAGE_CSP                                                                                          \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

#endif
