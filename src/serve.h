/* serve.h — `headshot serve [--port N] [--queue N] [--timeout S]`: the tool as a local web page.
 *
 * An HTTP/1.1 server on 127.0.0.1 only. Its first line on standard output is the address to
 * open, http://127.0.0.1:PORT/?token=TOKEN (random per run). It serves:
 *   GET  /                the page (web/index.html, embedded in the binary)
 *   POST /api/headshot    the photo as the body, the command line's options as query
 *                         parameters: the JPEG (PNG for background=transparent) with its XMP,
 *                         or with "Accept: application/json" a JSON object with the image as
 *                         a data URL and the report
 *   POST /api/variants    the six looks of --variants as JSON with data URLs
 * Errors are JSON {"error": "..."} with the command line's one-line reason (docs/CLI.md has
 * the status mapping and the security rules: token, Host, no CORS, 50 MB, queue, time limits).
 * The networks are loaded once; jobs run one at a time, connections on threads of their own.
 * Nothing is written to disk. The server binds, listens and accepts; it never connects.
 */
#ifndef SERVE_H
#define SERVE_H

/* argv[0] is "serve". weights_dir as for --weights (NULL: the embedded networks). Runs until
 * SIGINT or SIGTERM; returns the exit status (0 after a signal, 2 usage, 1 cannot listen). */
int serve_main(int argc, char **argv, const char *weights_dir);

#endif
