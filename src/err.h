/* err.h — the size of every error-message buffer: one line of reason, as the CLI prints it
 * ("headshot: FILE: REASON"). Each module names it (IMG_ERR, PL_ERR, ...) for its own
 * functions' signatures; all are this one size, so a reason passes from one to the next
 * whole. */
#ifndef ERR_H
#define ERR_H

#define HS_ERR 160

#endif
