//! QR codes at the counter: requests shown on the terminal or as PNG, answers read
//! from a PNG (a camera frame or a screenshot).

use qrcode::{Color, EcLevel, QrCode};

/// Why a QR code could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The data does not fit a QR code.
    #[error("the data does not fit a QR code: {0}")]
    TooLong(String),
    /// The image cannot be read.
    #[error("the image cannot be read: {0}")]
    Image(String),
    /// No readable QR code in the image.
    #[error("no readable QR code in the image")]
    NotFound,
}

fn code(data: &[u8]) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(data, EcLevel::M)
        .map_err(|e| QrError::TooLong(e.to_string()))
}

/// The QR code as text for a terminal (two characters per module, quiet zone).
pub fn render_text(data: &[u8]) -> Result<String, QrError> {
    let c = code(data)?;
    let w = c.width();
    let colors = c.to_colors();
    let mut out = String::new();
    for y in -2..(w as isize + 2) {
        for x in -2..(w as isize + 2) {
            let dark = (0..w as isize).contains(&x)
                && (0..w as isize).contains(&y)
                && colors[y as usize * w + x as usize] == Color::Dark;
            out.push_str(if dark { "██" } else { "  " });
        }
        out.push('\n');
    }
    Ok(out)
}

/// The QR code as a greyscale image: `(side, pixels)`, `scale` px per module, with a
/// four-module quiet zone.
pub fn render_pixels(data: &[u8], scale: usize) -> Result<(usize, Vec<u8>), QrError> {
    let c = code(data)?;
    let modules = c.width();
    let colors = c.to_colors();
    let side = (modules + 8) * scale;
    let mut px = vec![255u8; side * side];
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = ((x / scale) as isize - 4, (y / scale) as isize - 4);
            if (0..modules as isize).contains(&mx)
                && (0..modules as isize).contains(&my)
                && colors[my as usize * modules + mx as usize] == Color::Dark
            {
                px[y * side + x] = 0;
            }
        }
    }
    Ok((side, px))
}

/// The QR code as a PNG file's bytes.
pub fn render_png(data: &[u8]) -> Result<Vec<u8>, QrError> {
    let (side, px) = render_pixels(data, 6)?;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| QrError::Image(e.to_string()))?;
        w.write_image_data(&px)
            .map_err(|e| QrError::Image(e.to_string()))?;
    }
    Ok(out)
}

/// Reads the first QR code in a greyscale image.
pub fn decode_pixels(side_w: usize, side_h: usize, px: &[u8]) -> Result<Vec<u8>, QrError> {
    if px.len() < side_w * side_h {
        return Err(QrError::Image("short pixel buffer".into()));
    }
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(side_w, side_h, |x, y| px[y * side_w + x]);
    for grid in img.detect_grids() {
        let mut out = Vec::new();
        if grid.decode_to(&mut out).is_ok() {
            return Ok(out);
        }
    }
    Err(QrError::NotFound)
}

/// Reads the first QR code in a PNG file's bytes (greyscale, grey+alpha, RGB or RGBA,
/// 8 bits).
pub fn decode_png(bytes: &[u8]) -> Result<Vec<u8>, QrError> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(|e| QrError::Image(e.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| QrError::Image("image too large".into()))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| QrError::Image(e.to_string()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let grey: Vec<u8> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| match c.len() {
            1 | 2 => c[0],
            _ => ((c[0] as u32 + c[1] as u32 + c[2] as u32) / 3) as u8,
        })
        .collect();
    decode_pixels(w, h, &grey)
}
