/* The page of `headshot serve` (web/index.html), embedded in the binary as serve_page. */
.section .rodata
.globl serve_page
.globl serve_page_end
serve_page:
.incbin "web/index.html"
serve_page_end:
.byte 0
.section .note.GNU-stack,"",%progbits
