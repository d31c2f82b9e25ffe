// Images for posts: the checks Bluesky makes (type, size, count), done before
// anything is uploaded so the person learns what is wrong right away.
import { formatBytes } from './format'

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const
export type ImageType = (typeof IMAGE_TYPES)[number]
/** app.bsky.embed.images accepts at most 1,000,000 bytes per image. */
export const MAX_IMAGE_BYTES = 1_000_000
export const MAX_IMAGES = 4
/**
 * The largest picture the window takes: bigger than MAX_IMAGE_BYTES is
 * fine, Hearth shrinks it before upload (App.UploadImage), as the Bluesky
 * app does.
 */
export const MAX_INPUT_BYTES = 50_000_000
/** Alt text limit of app.bsky.embed.images (graphemes; we check characters). */
export const MAX_ALT = 2000

const NAMES: Record<ImageType, string> = {
  'image/png': 'PNG',
  'image/jpeg': 'JPEG',
  'image/gif': 'GIF',
  'image/webp': 'WebP',
}

export interface FileLike {
  name: string
  type: string
  size: number
}

/** What the file's first bytes say it is (magic numbers), or null. */
export function sniffImageType(b: Uint8Array): ImageType | null {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a)
    return 'image/png'
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg'
  if (b.length >= 6) {
    const h = String.fromCharCode(...b.slice(0, 6))
    if (h === 'GIF87a' || h === 'GIF89a') return 'image/gif'
  }
  if (b.length >= 12) {
    const riff = String.fromCharCode(...b.slice(0, 4))
    const webp = String.fromCharCode(...b.slice(8, 12))
    if (riff === 'RIFF' && webp === 'WEBP') return 'image/webp'
  }
  return null
}

/** Why this file cannot be attached, in words, or null if it can. */
export function checkImage(f: FileLike, sniffed?: ImageType | null, maxBytes = MAX_IMAGE_BYTES): string | null {
  const name = f.name || 'This file'
  const declared = (IMAGE_TYPES as readonly string[]).includes(f.type) ? (f.type as ImageType) : null
  const type = sniffed === undefined ? declared : sniffed
  if (!type) {
    return `${name} is not an image Bluesky accepts: use PNG, JPEG, GIF or WebP.`
  }
  if (f.size === 0) return `${name} is empty.`
  if (f.size > maxBytes) {
    let size = formatBytes(f.size)
    let max = formatBytes(maxBytes)
    if (size === max) {
      // Just over the limit: "1 MB; … up to 1 MB" would make no sense.
      size = `${f.size.toLocaleString('en-US')} bytes`
      max = `${maxBytes.toLocaleString('en-US')} bytes`
    }
    if (maxBytes > MAX_IMAGE_BYTES) return `${name} is ${size}; Hearth can shrink pictures up to ${max}. Choose a smaller one.`
    return `${name} is ${size}; Bluesky accepts images up to ${max}. Make it smaller and try again.`
  }
  return null
}

export function typeName(t: string): string {
  return NAMES[t as ImageType] ?? t
}

/**
 * Which of `files` can join the `current` images: the first ones that fit
 * under the limit of 4 and pass checkImage. Errors say why the others did not.
 */
export function admitImages<T extends FileLike>(
  files: T[],
  current: number,
  sniff?: (f: T) => ImageType | null,
  maxBytes = MAX_IMAGE_BYTES,
): { accepted: { file: T; type: ImageType }[]; errors: string[] } {
  const accepted: { file: T; type: ImageType }[] = []
  const errors: string[] = []
  let room = MAX_IMAGES - current
  let skipped = 0
  for (const f of files) {
    const sniffed = sniff ? sniff(f) : undefined
    const err = checkImage(f, sniffed, maxBytes)
    if (err) {
      errors.push(err)
      continue
    }
    if (room <= 0) {
      skipped++
      continue
    }
    accepted.push({ file: f, type: (sniffed ?? f.type) as ImageType })
    room--
  }
  if (skipped) errors.push(`A post holds at most ${MAX_IMAGES} images; ${skipped === 1 ? '1 image was' : `${skipped} images were`} left out.`)
  return { accepted, errors }
}

/** Base64 of bytes (chunked so large files do not overflow the call stack). */
export function bytesToBase64(b: Uint8Array): string {
  let s = ''
  const chunk = 0x8000
  for (let i = 0; i < b.length; i += chunk) s += String.fromCharCode(...b.subarray(i, i + chunk))
  return btoa(s)
}

/** Reads a File as base64 (for App.UploadBlob) without blocking the window. */
export function fileToBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader()
    r.onerror = () => reject(r.error ?? new Error('the file could not be read'))
    r.onload = () => {
      const url = String(r.result)
      resolve(url.slice(url.indexOf(',') + 1))
    }
    r.readAsDataURL(file)
  })
}

/** The pixel size of an image (for the post's aspectRatio), 0×0 if unknown. */
export function imageSize(url: string): Promise<{ width: number; height: number }> {
  return new Promise((resolve) => {
    const img = new Image()
    img.onload = () => resolve({ width: img.naturalWidth, height: img.naturalHeight })
    img.onerror = () => resolve({ width: 0, height: 0 })
    img.src = url
  })
}
