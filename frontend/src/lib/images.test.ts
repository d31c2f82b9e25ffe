import { describe, expect, it } from 'vitest'
import { admitImages, bytesToBase64, checkImage, MAX_IMAGE_BYTES, MAX_IMAGES, MAX_INPUT_BYTES, sniffImageType } from './images'

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])
const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16])
const gif = new TextEncoder().encode('GIF89a......')
const webp = new TextEncoder().encode('RIFF\x10\x00\x00\x00WEBPVP8 ')
const text = new TextEncoder().encode('hello world!')

describe('image checks', () => {
  it('knows the four image types by their bytes', () => {
    expect(sniffImageType(png)).toBe('image/png')
    expect(sniffImageType(jpeg)).toBe('image/jpeg')
    expect(sniffImageType(gif)).toBe('image/gif')
    expect(sniffImageType(webp)).toBe('image/webp')
    expect(sniffImageType(text)).toBeNull()
    expect(sniffImageType(new Uint8Array())).toBeNull()
  })

  it('accepts PNG, JPEG, GIF and WebP up to 1,000,000 bytes', () => {
    expect(MAX_IMAGE_BYTES).toBe(1_000_000)
    for (const type of ['image/png', 'image/jpeg', 'image/gif', 'image/webp'])
      expect(checkImage({ name: 'a', type, size: 1000 })).toBeNull()
    expect(checkImage({ name: 'edge.png', type: 'image/png', size: 1_000_000 })).toBeNull()
    expect(checkImage({ name: 'big.png', type: 'image/png', size: 1_000_001 })).toBe(
      'big.png is 1,000,001 bytes; Bluesky accepts images up to 1,000,000 bytes. Make it smaller and try again.',
    )
    expect(checkImage({ name: 'huge.jpg', type: 'image/jpeg', size: 3_400_000 })).toMatch(/is 3.4 MB; .* up to 1 MB/)
    expect(checkImage({ name: 'x.svg', type: 'image/svg+xml', size: 10 })).toMatch(/not an image Bluesky accepts/)
    expect(checkImage({ name: 'x.bmp', type: '', size: 10 })).toMatch(/PNG, JPEG, GIF or WebP/)
    expect(checkImage({ name: 'e.png', type: 'image/png', size: 0 })).toBe('e.png is empty.')
  })

  it('trusts the bytes over the name when it has them', () => {
    expect(checkImage({ name: 'fake.png', type: 'image/png', size: 10 }, null)).toMatch(/not an image/)
    expect(checkImage({ name: 'photo', type: '', size: 10 }, 'image/jpeg')).toBeNull()
  })

  it('admits at most 4 images and says what was left out', () => {
    const f = (name: string, size = 100, type = 'image/png') => ({ name, type, size })
    const r = admitImages([f('a'), f('b'), f('big', 2_000_000), f('c'), f('d'), f('e')], 1)
    expect(r.accepted.map((a) => a.file.name)).toEqual(['a', 'b', 'c'])
    expect(r.errors).toHaveLength(2)
    expect(r.errors[0]).toMatch(/^big is 2 MB/)
    expect(r.errors[1]).toBe(`A post holds at most ${MAX_IMAGES} images; 2 images were left out.`)
    expect(admitImages([f('z')], 4).errors).toEqual(['A post holds at most 4 images; 1 image was left out.'])
  })

  it('uses the sniffed type', () => {
    const files = [{ name: 'p', type: 'image/png', size: 5 }]
    expect(admitImages(files, 0, () => 'image/webp').accepted[0].type).toBe('image/webp')
  })

  it('encodes base64 in chunks', () => {
    expect(bytesToBase64(new TextEncoder().encode('hearth'))).toBe('aGVhcnRo')
    const big = new Uint8Array(200_000).map((_, i) => i % 251)
    const back = Uint8Array.from(atob(bytesToBase64(big)), (c) => c.charCodeAt(0))
    expect(back).toEqual(big)
  })
})

describe('pictures Hearth shrinks', () => {
  it('takes pictures over 1 MB up to the input limit, and says so past it', () => {
    expect(checkImage({ name: 'photo.jpg', type: 'image/jpeg', size: 8_000_000 }, 'image/jpeg', MAX_INPUT_BYTES)).toBeNull()
    expect(checkImage({ name: 'huge.jpg', type: 'image/jpeg', size: 60_000_000 }, 'image/jpeg', MAX_INPUT_BYTES)).toMatch(/Hearth can shrink pictures up to 50 MB/)
    const f = (name: string, size: number) => ({ name, type: 'image/jpeg', size })
    expect(admitImages([f('a', 5_000_000), f('b', 70_000_000)], 0, undefined, MAX_INPUT_BYTES).accepted.map((a) => a.file.name)).toEqual(['a'])
  })
})
