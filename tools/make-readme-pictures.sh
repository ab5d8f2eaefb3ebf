#!/bin/sh
# make-readme-pictures.sh — the README's before/after pictures, made by headshot itself from
# the public-domain sample photos: the photo and its headshot side by side, 320 pixels
# high, JPEG quality 85, into docs/img/. Run from the repository root:
#   sh tools/make-readme-pictures.sh
set -e
make -s headshot
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc -Ithird_party/stb -o build/readme-picture tools/readme-picture.c \
  $(ls build/*.o | grep -v '/headshot\.o$') -lm -lpthread
mkdir -p docs/img
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# picture NAME PHOTO [headshot options]: docs/img/NAME.jpg
picture() {
  name=$1 photo=$2; shift 2
  ./headshot -q "$photo" -o "$tmp/$name.jpg" "$@"
  build/readme-picture "$photo" "$tmp/$name.jpg" "docs/img/$name.jpg" 320 85
  echo "docs/img/$name.jpg: $(wc -c <"docs/img/$name.jpg" | tr -d ' ') bytes ($*)"
}
picture before-after samples/hopper.jpg                                     # Grace Hopper, US Navy, public domain
picture before-after-astronaut tests/data/d03.png --background studio-blue  # NASA, public domain
picture before-after-portrait tests/data/d05.jpg --preset portrait --background studio-warm   # White House, public domain
