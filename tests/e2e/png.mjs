// A tiny PNG encoder for test images (no dependencies).
import zlib from 'node:zlib'

const CRC_TABLE = new Int32Array(256).map((_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c
})

function crc32(buf) {
  let c = -1
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ -1) >>> 0
}

function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(td))
  return Buffer.concat([len, td, crc])
}

/** An RGB PNG of width×height whose pixel colour is px(x, y) -> [r, g, b]. */
export function png(width, height, px) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0
    for (let x = 0; x < width; x++) {
      const [r, g, b] = px(x, y)
      const o = y * (width * 3 + 1) + 1 + x * 3
      raw[o] = r
      raw[o + 1] = g
      raw[o + 2] = b
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/** A warm sunset-like gradient, pleasant enough for screenshots. */
export function sunset(width = 320, height = 200) {
  return png(width, height, (x, y) => {
    const t = y / height
    const hill = y > height * (0.72 + 0.08 * Math.sin(x / 37))
    if (hill) return [58 + 20 * t, 40 + 10 * t, 62]
    const sun = Math.hypot(x - width * 0.62, y - height * 0.58) < height * 0.22
    if (sun) return [255, 226, 140]
    return [Math.round(255 - 40 * t), Math.round(150 - 90 * t), Math.round(90 + 60 * t)]
  })
}

/** Blue sea with a pale sky, for a second screenshot image. */
export function sea(width = 320, height = 200) {
  return png(width, height, (x, y) => {
    const t = y / height
    const horizon = height * 0.45
    if (y < horizon) return [Math.round(170 + 60 * t), Math.round(205 + 30 * t), 245]
    const d = (y - horizon) / (height - horizon)
    // Wavy crests, farther apart towards the viewer.
    const spacing = 5 + 18 * d
    const crest = (y - horizon + 2.5 * Math.sin(x / (8 + 20 * d) + y)) % spacing
    if (y > horizon + 3 && crest < 0.9 + d) return [225, 240, 250]
    return [Math.round(30 + 20 * d), Math.round(110 - 40 * d), Math.round(170 - 50 * d)]
  })
}

/** Green hills under a light sky. */
export function hills(width = 320, height = 200) {
  return png(width, height, (x, y) => {
    const far = y > height * (0.5 + 0.06 * Math.sin(x / 23))
    const near = y > height * (0.68 + 0.09 * Math.sin(x / 41 + 1))
    if (near) return [70, 140, 80]
    if (far) return [120, 180, 120]
    return [210, 230, 245]
  })
}
