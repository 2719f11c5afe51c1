//! QR codes: shown in a terminal, written as PNG, read back from a PNG image.
//!
//! Enrolment records, household hand-overs, requests and presentations travel between a
//! phone and a station as QR codes. Making them uses `qrcode` (its matrix only; no image
//! stack), reading them `rqrr` on greyscale pixels decoded by the pure-Rust `png` crate,
//! so all of it builds for wasm too. Error correction is level M (15 %), falling back
//! to L for data too long for M.

use std::io::Cursor;

use qrcode::{Color, EcLevel, QrCode};

use crate::{Result, WalletError};

/// Modules of quiet zone around the code.
const QUIET: usize = 4;
/// The largest PNG the reader decodes (bytes of pixel data).
const MAX_PIXELS: usize = 64 * 1024 * 1024;

fn code(data: &[u8]) -> Result<QrCode> {
    QrCode::with_error_correction_level(data, EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(data, EcLevel::L))
        .map_err(|e| WalletError::Qr(format!("data does not fit a QR code: {e}")))
}

/// The dark/light matrix with its quiet zone: `(side, is_dark)`.
fn matrix(data: &[u8]) -> Result<(usize, Vec<bool>)> {
    let c = code(data)?;
    let w = c.width();
    let colors = c.to_colors();
    let side = w + 2 * QUIET;
    let mut m = vec![false; side * side];
    for y in 0..w {
        for x in 0..w {
            m[(y + QUIET) * side + x + QUIET] = colors[y * w + x] == Color::Dark;
        }
    }
    Ok((side, m))
}

/// The QR code as text for a terminal: two modules per character (Unicode half blocks),
/// drawn light-on-dark so that it reads on the usual dark terminal background (phone
/// scanners read inverted codes).
pub fn terminal(data: &[u8]) -> Result<String> {
    let (side, m) = matrix(data)?;
    let light = |x: usize, y: usize| y < side && !m[y * side + x];
    let mut out = String::with_capacity(side * side / 2 * 3);
    for y in (0..side).step_by(2) {
        for x in 0..side {
            out.push(match (light(x, y), light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// The QR code as an 8-bit greyscale PNG, `scale` pixels per module (dark on white).
pub fn png(data: &[u8], scale: usize) -> Result<Vec<u8>> {
    let (side, m) = matrix(data)?;
    let scale = scale.clamp(1, 32);
    let px = side * scale;
    let mut pixels = vec![255u8; px * px];
    for y in 0..px {
        for x in 0..px {
            if m[(y / scale) * side + x / scale] {
                pixels[y * px + x] = 0;
            }
        }
    }
    let mut out = Vec::new();
    let err = |e: png::EncodingError| WalletError::Qr(format!("PNG encoding: {e}"));
    let mut enc = png::Encoder::new(&mut out, px as u32, px as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(&pixels).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(out)
}

/// Reads the one QR code in a PNG image (any colour type) and returns its bytes.
pub fn read_png(image: &[u8]) -> Result<Vec<u8>> {
    let bad = |s: &str| WalletError::Qr(s.to_string());
    let mut dec =
        png::Decoder::new_with_limits(Cursor::new(image), png::Limits { bytes: MAX_PIXELS });
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|_| bad("not a readable PNG image"))?;
    let size = reader
        .output_buffer_size()
        .filter(|s| *s <= MAX_PIXELS)
        .ok_or_else(|| bad("PNG image too large"))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|_| bad("not a readable PNG image"))?;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(bad("unsupported PNG colour type")),
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let line = info.line_size;
    if line < w * channels || buf.len() < line * h {
        return Err(bad("PNG image is inconsistent"));
    }
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        let p = &buf[y * line + x * channels..];
        let luma = if channels >= 3 {
            (u16::from(p[0]) * 3 + u16::from(p[1]) * 6 + u16::from(p[2])) / 10
        } else {
            u16::from(p[0])
        };
        // Transparent pixels count as white (a QR code on a transparent background).
        let alpha = match channels {
            2 => p[1],
            4 => p[3],
            _ => 255,
        };
        if alpha < 128 {
            255
        } else {
            luma as u8
        }
    });
    let grids = img.detect_grids();
    let grid = match grids.len() {
        0 => return Err(bad("no QR code found in the image")),
        1 => &grids[0],
        _ => return Err(bad("more than one QR code in the image")),
    };
    let mut out = Vec::new();
    grid.decode_to(&mut out)
        .map_err(|e| WalletError::Qr(format!("the QR code cannot be read: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip() {
        let data = br#"{"holderCommitment":"0x01"}"#;
        let img = png(data, 4).unwrap();
        assert_eq!(read_png(&img).unwrap(), data);
        let t = terminal(data).unwrap();
        assert!(t.lines().count() > 10);
    }

    #[test]
    fn bad_images_are_refused() {
        assert!(read_png(b"not a png").is_err());
        let blank = {
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, 50, 50);
            enc.set_color(png::ColorType::Grayscale);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[255u8; 2500]).unwrap();
            w.finish().unwrap();
            out
        };
        assert!(matches!(read_png(&blank), Err(WalletError::Qr(_))));
        let img = png(b"hello", 4).unwrap();
        assert!(read_png(&img[..img.len() / 2]).is_err(), "truncated");
    }
}
