#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/ (committed; rerun only to change them).

Images are small crops of tests/data/d01.jpg (Grace Hopper, public domain) in the shapes the
decoders branch on: baseline and progressive JPEG, 4:4:4 / 4:2:0 / grey, restart markers,
EXIF orientations in both byte orders; PNG grey, grey+alpha, RGB, RGBA, palette, 16-bit,
1-bit, interlaced. Needs python3-pil. Weight seeds are tiny valid containers of every dtype
(docs/WEIGHTS.md); meta and cli seeds are NUL-separated strings."""
import io, os, struct, zlib
from PIL import Image

root = os.path.dirname(os.path.abspath(__file__))
out = lambda t, name, data: open(os.path.join(root, 'corpus', t, name), 'wb').write(data)

# ------------------------------------------------------------------ images
src = Image.open(os.path.join(root, '..', 'data', 'd01.jpg')).convert('RGB')
face = src.crop((200, 60, 440, 300)).resize((24, 24))

def jpeg(im, **kw):
    b = io.BytesIO(); im.save(b, 'JPEG', **kw); return b.getvalue()

def png(im, **kw):
    b = io.BytesIO(); im.save(b, 'PNG', **kw); return b.getvalue()

def exif(o, le):
    """An APP1 Exif segment whose IFD0 holds Orientation = o."""
    e = '<' if le else '>'
    tiff = (b'II' if le else b'MM') + struct.pack(e + 'HI', 42, 8) + struct.pack(e + 'H', 1)
    tiff += struct.pack(e + 'HHIHH', 0x0112, 3, 1, o, 0) + struct.pack(e + 'I', 0)
    body = b'Exif\0\0' + tiff
    return b'\xff\xe1' + struct.pack('>H', len(body) + 2) + body

out('img', 'baseline-444.jpg', jpeg(face, quality=60, subsampling=0))
out('img', 'baseline-420.jpg', jpeg(face.resize((17, 13)), quality=50, subsampling=2))
out('img', 'progressive.jpg', jpeg(face, quality=60, progressive=True))
out('img', 'grey.jpg', jpeg(face.convert('L'), quality=60))
out('img', 'restart.jpg', jpeg(face, quality=40, restart_marker_blocks=1))
small = jpeg(face.resize((9, 6)), quality=50)
for o, le in ((6, True), (3, False), (5, True), (8, False)):
    out('img', 'exif-%d-%s.jpg' % (o, 'le' if le else 'be'), small[:2] + exif(o, le) + small[2:])
out('img', 'grey.png', png(face.convert('L')))
out('img', 'grey-alpha.png', png(face.convert('LA')))
out('img', 'rgb.png', png(face.resize((11, 7))))
rgba = face.convert('RGBA'); rgba.putalpha(Image.linear_gradient('L').resize((24, 24)))
out('img', 'rgba.png', png(rgba))
out('img', 'palette.png', png(face.convert('P', palette=Image.ADAPTIVE, colors=16)))
out('img', 'grey16.png', png(face.convert('I').point(lambda v: v * 256)))
out('img', 'bilevel.png', png(face.convert('1')))

def png_raw(w, h, depth, ctype, rows, interlace=0, extra=b''):
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    ihdr = struct.pack('>IIBBBBB', w, h, depth, ctype, 0, 0, interlace)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + extra + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')

# Adam7 interlaced 5x5 RGB: the seven passes' rows, each with filter byte 0.
passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
rows = b''
px = face.resize((5, 5)).tobytes()
for x0, y0, dx, dy in passes:
    for y in range(y0, 5, dy):
        xs = list(range(x0, 5, dx))
        if xs: rows += b'\0' + b''.join(px[(y * 5 + x) * 3:(y * 5 + x) * 3 + 3] for x in xs)
out('img', 'interlaced.png', png_raw(5, 5, 8, 2, rows, interlace=1))

# ------------------------------------------------------------------ weights
def container(tensors, version=2):
    """tensors: (name, dtype, shape, data bytes, scales bytes or b'')."""
    up = lambda x: (x + 63) // 64 * 64
    table, n = 64, len(tensors)
    poff = up(table + 96 * n)
    payload, entries = b'', b''
    for name, dtype, shape, data, scales in tensors:
        off = len(payload); payload += data; payload += b'\0' * (up(len(payload)) - len(payload))
        soff = 0
        if scales:
            soff = len(payload); payload += scales; payload += b'\0' * (up(len(payload)) - len(payload))
        dims = list(shape) + [1] * (4 - len(shape))
        entries += name.encode().ljust(48, b'\0') + bytes([dtype, len(shape), 0, 0]) + struct.pack('<4I', *dims) + b'\0' * 4
        entries += struct.pack('<3Q', off, len(data), soff)
    head = bytearray(b'HSNN' + struct.pack('<3I4Q', version, n, 96, table, poff, len(payload), 0) + b'seed'.ljust(16, b'\0'))
    body = bytes(entries).ljust(poff - table, b'\0') + payload
    h = 0xcbf29ce484222325
    for i in range(0, len(body) - 7, 8):
        h = ((h ^ struct.unpack('<Q', body[i:i + 8])[0]) * 0x100000001b3) & (2 ** 64 - 1)
    head[40:48] = struct.pack('<Q', h)
    return bytes(head) + body

f32 = ('conv.w', 0, (2, 3), struct.pack('<6f', 1, -2, 3, -4, 5, -6), b'')
f16 = ('conv.b', 1, (4,), struct.pack('<4e', 0.5, -1, 2, 65504), b'')
i8 = ('dense.w', 2, (2, 4), bytes([1, 255, 3, 127, 128, 0, 2, 9]), struct.pack('<2f', 0.1, 0.02))
# dtype 3: values 0 and 1, one bit each (a complete code), 64 values in four 16-value streams.
lengths = bytes([1, 1] + [0] * 254)
streams = [bytes([0b10110010, 0b01011100])] * 4
coded = lengths + struct.pack('<4I', *[len(s) for s in streams]) + b''.join(streams)
i8c = ('coded.w', 3, (4, 16), coded, struct.pack('<4f', 1, 2, 3, 4))
out('weights', 'v1-f32-f16-i8.hsw', container([f32, f16, i8], version=1))
out('weights', 'v2-coded.hsw', container([i8c, f16], version=2))
out('weights', 'v2-empty.hsw', container([], version=2))

# ------------------------------------------------------------------ meta and cli
out('meta', 'plain', b'headshot 0.1.0\0photos/me.jpg\0linkedin\0background\0kind=studio\0selfie\0')
out('meta', 'hostile', b'tool "x"\0a\nb\r\t<c>&d\'e".jpg\0pre\x01set\0<step>\0p=\xff\xfe \xed\xa0\x80 \xf4\x90\x80\x80 \xef\xbf\xbe\\"\0'
                       b'model&\0v]]>\0lic\x7f\0name\0\xc3\xa9t\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x99\x82\0w\0')
for name, args in (('simple', ['in.jpg', '-o', 'out.jpg']),
                   ('many', ['--threads', '2', 'a.jpg', '--preset', 'passport-eu', '--background', '#12ab9F',
                             '--size', '600x800', '--quality', '77', '-o', 'x.png', '--format', 'png', '--json']),
                   ('image-bg', ['--background=image:office.jpg', 'in.png', '--output=o.jpg', '--report', 'r.json',
                                 '--retouch', '0.5', '--light-strength', '1', '--enhance', 'best', '--face', '2']),
                   ('batch', ['a.jpg', 'b.jpg', '--team', '--jobs', '3', '-o', 'outdir', '--isa', 'portable', '--']),
                   ('dash', ['--', '-weird.jpg', '-o', '-', '--max-pixels', '1000'])):
    out('cli', name, '\0'.join(args).encode())
