//! What an upload holds: image dimensions and a thumbnail, or an audio duration.
//!
//! Everything here is blocking file work and runs on the blocking pool, never on the async
//! runtime. Images are measured from their header; those of at most [`MAX_DECODED_PIXELS`] are
//! decoded (with allocation limits) and shrunk to a thumbnail whose longest side is
//! [`THUMBNAIL_SIDE`], which is then turned upright by the EXIF orientation. Voice notes
//! recorded by browsers are Opus in Ogg or WebM; their duration is read from the container: the
//! last Ogg page's granule position, or the WebM `Duration` (or, as MediaRecorder leaves it out,
//! the time of the last block).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// The most pixels an image may have to be decoded for its thumbnail: 40 MP, a large phone
/// photo. Past it the image is only measured from its header: a few hundred kilobytes of PNG
/// can declare gigabytes of pixels (a decompression bomb), and a thumbnail needs none of them.
pub const MAX_DECODED_PIXELS: u64 = 40_000_000;

/// The most memory one decode may allocate: 40 MP of 8-bit RGBA, with room for the decoder's
/// own buffers.
const MAX_DECODE_ALLOC: u64 = 200 * 1024 * 1024;

/// What probing found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Probe {
    /// Pixels across, upright.
    pub width: Option<i32>,
    /// Pixels down, upright.
    pub height: Option<i32>,
    /// Audio length.
    pub duration_ms: Option<i64>,
    /// A refined type (a WebM with only audio is `audio/webm`).
    pub content_type: Option<String>,
    /// The thumbnail and its type.
    pub thumbnail: Option<(Vec<u8>, &'static str)>,
}

/// Probes the file at `path` whose sniffed type is `content_type`. Never fails: a file that does
/// not parse simply has no metadata.
pub fn probe(path: &Path, content_type: &str) -> Probe {
    let result = match content_type {
        "image/png" | "image/jpeg" | "image/webp" | "image/gif" => probe_image(path).ok(),
        "audio/ogg" | "audio/opus" => ogg_duration(path).ok().flatten().map(|ms| Probe {
            duration_ms: Some(ms),
            ..Probe::default()
        }),
        "video/webm" | "audio/webm" => probe_webm(path).ok(),
        _ => None,
    };
    result.unwrap_or_default()
}

/// The side of an avatar, in pixels.
pub const AVATAR_SIDE: u32 = 256;

/// An avatar from the image `bytes`: turned upright, its centre cropped square, shrunk to
/// [`AVATAR_SIDE`] (never enlarged past its own size) and encoded as PNG. `None` if it is not an
/// image that decodes within the limits of thumbnails. Blocking: run it on the blocking pool.
pub fn square_avatar(bytes: &[u8]) -> Option<Vec<u8>> {
    let img = decode_upright(bytes)?;
    let side = img.width().min(img.height());
    let square = img.crop_imm(
        (img.width() - side) / 2,
        (img.height() - side) / 2,
        side,
        side,
    );
    let target = side.min(AVATAR_SIDE);
    let small = square.resize_exact(target, target, image::imageops::FilterType::Triangle);
    let mut bytes = std::io::Cursor::new(Vec::new());
    small.write_to(&mut bytes, ImageFormat::Png).ok()?;
    Some(bytes.into_inner())
}

/// The longest side of a link preview's picture, in pixels.
pub const PREVIEW_SIDE: u32 = 400;

/// A link preview's picture from the image `bytes`: turned upright, shrunk to fit
/// [`PREVIEW_SIDE`] keeping its shape (never enlarged), and encoded anew, as JPEG or, when it
/// has transparency, PNG; with its type, width and height. Re-encoding means what is served is
/// pixels this server made, never the linked site's bytes. `None` if it is not an image that
/// decodes within the limits of thumbnails. Blocking: run it on the blocking pool.
pub fn preview_image(bytes: &[u8]) -> Option<(Vec<u8>, &'static str, u32, u32)> {
    let img = decode_upright(bytes)?;
    let img = if img.width() > PREVIEW_SIDE || img.height() > PREVIEW_SIDE {
        img.resize(
            PREVIEW_SIDE,
            PREVIEW_SIDE,
            image::imageops::FilterType::Triangle,
        )
    } else {
        img
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let kind = if img.color().has_alpha() {
        img.write_to(&mut out, ImageFormat::Png).ok()?;
        "image/png"
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
            .write_to(&mut out, ImageFormat::Jpeg)
            .ok()?;
        "image/jpeg"
    };
    Some((out.into_inner(), kind, img.width(), img.height()))
}

/// An image decoded within the limits of thumbnails and turned upright by its EXIF orientation.
fn decode_upright(bytes: &[u8]) -> Option<DynamicImage> {
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    let orientation = decoder.orientation().ok()?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_DECODED_PIXELS {
        return None;
    }
    let mut img = DynamicImage::from_decoder(decoder).ok()?;
    img.apply_orientation(orientation);
    Some(img)
}

/// Measures an image from its header and, when it is small enough to decode, thumbnails it.
/// The EXIF orientation turns the thumbnail (a few hundred pixels), never the full image.
fn probe_image(path: &Path) -> Result<Probe, image::ImageError> {
    let mut reader = ImageReader::open(path)?.with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let (raw_w, raw_h) = decoder.dimensions();
    let (width, height) = match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (raw_h, raw_w),
        _ => (raw_w, raw_h),
    };
    let measured = Probe {
        width: i32::try_from(width).ok(),
        height: i32::try_from(height).ok(),
        ..Probe::default()
    };
    if u64::from(raw_w) * u64::from(raw_h) > MAX_DECODED_PIXELS {
        return Ok(measured);
    }
    let Ok(img) = DynamicImage::from_decoder(decoder) else {
        return Ok(measured);
    };
    let mut small = if raw_w.max(raw_h) > THUMBNAIL_SIDE {
        img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        img
    };
    small.apply_orientation(orientation);
    let mut bytes = std::io::Cursor::new(Vec::new());
    let kind = if small.color().has_alpha() {
        small.write_to(&mut bytes, ImageFormat::Png)?;
        "image/png"
    } else {
        DynamicImage::ImageRgb8(small.to_rgb8()).write_with_encoder(
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80),
        )?;
        "image/jpeg"
    };
    Ok(Probe {
        thumbnail: Some((bytes.into_inner(), kind)),
        ..measured
    })
}

/// The duration of an Ogg Opus or Vorbis stream: the last page's granule position, less Opus's
/// pre-skip, over the sample rate.
fn ogg_duration(path: &Path) -> std::io::Result<Option<i64>> {
    let mut file = File::open(path)?;
    let mut head = vec![0u8; 512];
    let n = file.read(&mut head)?;
    head.truncate(n);
    let (rate, pre_skip) = if let Some(at) = find(&head, b"OpusHead") {
        let skip = head
            .get(at + 10..at + 12)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
        (48_000i64, i64::from(skip))
    } else if let Some(at) = find(&head, b"\x01vorbis") {
        let rate = head
            .get(at + 12..at + 16)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        (i64::from(rate), 0)
    } else {
        return Ok(None);
    };
    if rate == 0 {
        return Ok(None);
    }
    let len = file.metadata()?.len();
    let tail_len = len.min(65_536);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    file.take(tail_len).read_to_end(&mut tail)?;
    let Some(at) = rfind(&tail, b"OggS") else {
        return Ok(None);
    };
    let Some(g) = tail.get(at + 6..at + 14) else {
        return Ok(None);
    };
    let granule = i64::from_le_bytes([g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]]);
    if granule <= pre_skip {
        return Ok(None);
    }
    Ok(Some((granule - pre_skip) * 1000 / rate))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// EBML ids of the WebM elements read or entered.
mod ebml {
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMECODE_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const CLUSTER_TIMECODE: u32 = 0xE7;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
}

/// One Opus frame: what the last block adds after its start time.
const LAST_FRAME_MS: i64 = 20;

/// Duration and track kinds of a WebM file, by one pass over its elements: containers are entered
/// (their size may be unknown, as MediaRecorder writes them), everything else is skipped.
fn probe_webm(path: &Path) -> std::io::Result<Probe> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut r = BufReader::new(file);
    let mut pos = 0u64;
    let mut scale_ns: u64 = 1_000_000;
    let mut declared: Option<f64> = None;
    let (mut has_video, mut has_audio) = (false, false);
    let mut cluster_tc: i64 = 0;
    let mut last_block: Option<i64> = None;
    while pos < len {
        let Some((id, id_len)) = read_vint(&mut r, true)? else {
            break;
        };
        let Some((size, size_len)) = read_vint(&mut r, false)? else {
            break;
        };
        pos += (id_len + size_len) as u64;
        let unknown = size == u64::MAX;
        match id as u32 {
            ebml::SEGMENT
            | ebml::INFO
            | ebml::TRACKS
            | ebml::TRACK_ENTRY
            | ebml::CLUSTER
            | ebml::BLOCK_GROUP => continue,
            _ if unknown => break,
            ebml::TIMECODE_SCALE => scale_ns = read_uint(&mut r, size)?,
            ebml::DURATION => declared = read_float(&mut r, size)?,
            ebml::TRACK_TYPE => match read_uint(&mut r, size)? {
                1 => has_video = true,
                2 => has_audio = true,
                _ => {}
            },
            ebml::CLUSTER_TIMECODE => cluster_tc = read_uint(&mut r, size)? as i64,
            ebml::SIMPLE_BLOCK | ebml::BLOCK => {
                let mut block = vec![0u8; size.min(16) as usize];
                r.read_exact(&mut block)?;
                r.seek_relative((size - block.len() as u64).min(i64::MAX as u64) as i64)?;
                // Track number (a vint), then a signed 16-bit timecode relative to the cluster.
                let track_len = block.first().map_or(1, |b| b.leading_zeros() as usize + 1);
                if let Some(t) = block.get(track_len..track_len + 2) {
                    let rel = i64::from(i16::from_be_bytes([t[0], t[1]]));
                    let at = cluster_tc + rel;
                    last_block = Some(last_block.map_or(at, |l: i64| l.max(at)));
                }
            }
            _ => r.seek_relative(size.min(i64::MAX as u64) as i64)?,
        }
        pos += size;
    }
    let ms_per_tick = scale_ns as f64 / 1_000_000.0;
    let duration_ms = match declared {
        Some(d) if d > 0.0 => Some((d * ms_per_tick).round() as i64),
        _ => last_block.map(|t| (t as f64 * ms_per_tick).round() as i64 + LAST_FRAME_MS),
    };
    Ok(Probe {
        duration_ms,
        content_type: (has_audio && !has_video).then(|| "audio/webm".to_owned()),
        ..Probe::default()
    })
}

/// An EBML variable-length integer; ids keep their length marker, sizes lose it (an all-ones
/// size means "unknown" and reads as `u64::MAX`).
fn read_vint(r: &mut impl Read, keep_marker: bool) -> std::io::Result<Option<(u64, usize)>> {
    let mut first = [0u8; 1];
    if r.read(&mut first)? == 0 {
        return Ok(None);
    }
    let len = first[0].leading_zeros() as usize + 1;
    if len > 8 {
        return Ok(None);
    }
    // The bits after the length marker (none left for an 8-byte vint).
    let mask = (0xFFu16 >> len) as u8;
    let mut value = if keep_marker {
        u64::from(first[0])
    } else {
        u64::from(first[0] & mask)
    };
    let mut all_ones = first[0] & mask == mask;
    let mut rest = [0u8; 7];
    r.read_exact(&mut rest[..len - 1])?;
    for b in &rest[..len - 1] {
        value = (value << 8) | u64::from(*b);
        all_ones &= *b == 0xFF;
    }
    if !keep_marker && all_ones {
        return Ok(Some((u64::MAX, len)));
    }
    Ok(Some((value, len)))
}

fn read_uint<R: Read + Seek>(r: &mut BufReader<R>, size: u64) -> std::io::Result<u64> {
    let mut value = 0u64;
    let mut buf = [0u8; 8];
    let n = size.min(8) as usize;
    r.read_exact(&mut buf[..n])?;
    for b in &buf[..n] {
        value = (value << 8) | u64::from(*b);
    }
    r.seek_relative(size.saturating_sub(8).min(i64::MAX as u64) as i64)?;
    Ok(value)
}

fn read_float<R: Read + Seek>(r: &mut BufReader<R>, size: u64) -> std::io::Result<Option<f64>> {
    match size {
        4 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            Ok(Some(f64::from(f32::from_be_bytes(b))))
        }
        8 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            Ok(Some(f64::from_be_bytes(b)))
        }
        _ => {
            r.seek_relative(size.min(i64::MAX as u64) as i64)?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn ogg_page(granule: i64, payload: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&[0; 12]);
        p.push(1);
        p.push(payload.len() as u8);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ogg_opus_duration_comes_from_the_last_granule() {
        let mut head = b"OpusHead\x01\x01".to_vec();
        head.extend_from_slice(&312u16.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        let mut file = ogg_page(0, &head);
        file.extend(ogg_page(48_000 + 312, b"frames"));
        file.extend(ogg_page(3 * 48_000 + 312, b"more frames"));
        let f = temp(&file);
        assert_eq!(ogg_duration(f.path()).unwrap(), Some(3000));
    }

    fn element(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut e = id.to_vec();
        e.push(0x80 | body.len() as u8);
        e.extend_from_slice(body);
        e
    }

    /// A WebM as MediaRecorder writes it: unknown-size segment and clusters, no Duration.
    fn recorder_webm() -> Vec<u8> {
        let mut f = element(&[0x1A, 0x45, 0xDF, 0xA3], &element(&[0x42, 0x82], b"webm"));
        f.extend_from_slice(&[
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        f.extend(element(
            &[0x15, 0x49, 0xA9, 0x66],
            &element(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]),
        ));
        let track = element(
            &[0xAE],
            &[element(&[0xD7], &[1]), element(&[0x83], &[2])].concat(),
        );
        f.extend(element(&[0x16, 0x54, 0xAE, 0x6B], &track));
        for (tc, blocks) in [(0u16, [0i16, 20, 40]), (1000, [0, 500, 1480])] {
            f.extend_from_slice(&[
                0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            f.extend(element(&[0xE7], &tc.to_be_bytes()));
            for rel in blocks {
                let mut block = vec![0x81];
                block.extend_from_slice(&rel.to_be_bytes());
                block.extend_from_slice(&[0x80, 1, 2, 3]);
                f.extend(element(&[0xA3], &block));
            }
        }
        f
    }

    #[test]
    fn webm_without_a_duration_is_timed_by_its_last_block() {
        let f = temp(&recorder_webm());
        let p = probe_webm(f.path()).unwrap();
        assert_eq!(p.duration_ms, Some(2500));
        assert_eq!(p.content_type.as_deref(), Some("audio/webm"));
    }

    #[test]
    fn images_get_dimensions_and_a_bounded_thumbnail() {
        // (EXIF rotation is covered end to end in tests/api/files.rs.)
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            800,
            400,
            image::Rgb([200, 10, 10]),
        ));
        let mut jpeg = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        let f = temp(&jpeg);
        let p = probe(f.path(), "image/jpeg");
        assert_eq!((p.width, p.height), (Some(800), Some(400)));
        let (thumb, kind) = p.thumbnail.unwrap();
        assert_eq!(kind, "image/jpeg");
        let t = image::load_from_memory(&thumb).unwrap();
        assert_eq!((t.width(), t.height()), (320, 160));
    }

    #[test]
    fn hostile_webm_sizes_neither_panic_nor_allocate() {
        let mut f = vec![
            0x1A, 0x45, 0xDF, 0xA3, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        ];
        f.extend_from_slice(&[0x44, 0x89, 0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        f.extend_from_slice(&[0x01; 64]);
        let t = temp(&f);
        // Reading may fail (the sizes point past the end), but must not panic or allocate.
        let _ = probe_webm(t.path());
        assert_eq!(probe(t.path(), "video/webm").duration_ms, None);
    }

    #[test]
    fn garbage_has_no_metadata() {
        let f = temp(b"not an image at all");
        assert_eq!(probe(f.path(), "image/png"), Probe::default());
    }
}
