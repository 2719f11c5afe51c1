//! A real presentation fits one QR code: rendered with `qrcode`, read back from the
//! pixels with `rqrr`, decoded and verified.

use qrcode::{Color, EcLevel, QrCode};
use weft_circuits::groth16::{prove, setup, CompressedProof};
use weft_circuits::presentation::Presentation;
use weft_circuits::sample::{presentation_of, request_of, sample_circuit};

/// Renders `data` as a greyscale QR image (4-module quiet zone, `scale` px per module)
/// and decodes it back from the pixels.
fn qr_round_trip(data: &[u8], scale: usize) -> (Vec<u8>, usize) {
    let code = QrCode::with_error_correction_level(data, EcLevel::M).expect("fits a QR code");
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 8) * scale;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
        let (mx, my) = ((x / scale) as isize - 4, (y / scale) as isize - 4);
        let inside = (0..modules as isize).contains(&mx) && (0..modules as isize).contains(&my);
        if inside && colors[my as usize * modules + mx as usize] == Color::Dark {
            0
        } else {
            255
        }
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let mut out = Vec::new();
    grids[0].decode_to(&mut out).expect("QR decodes");
    (out, modules)
}

#[test]
fn presentation_survives_a_qr_code() {
    let keys = setup(b"qr test", weft_circuits::DEFAULT_DEPTH).unwrap();
    let circuit = sample_circuit(keys.depth, 3).unwrap();
    let p = Presentation::prove(&keys, circuit.clone(), &mut rand::rngs::OsRng).unwrap();
    assert_eq!(p.root, circuit.statement.root);
    let bytes = p.to_bytes();
    assert!(bytes.len() <= 400, "presentation is {} bytes", bytes.len());
    let (read, modules) = qr_round_trip(&bytes, 4);
    assert_eq!(read, bytes);
    // Version 10 or below (57 modules): readable by a cheap phone camera.
    assert!(modules <= 57, "QR code of {modules} modules");
    let back = Presentation::from_bytes(&read).unwrap();
    back.verify(&keys.pvk, &request_of(&circuit.statement))
        .unwrap();
}

#[test]
fn malformed_presentations_are_refused() {
    let keys = setup(b"qr test 2", weft_circuits::DEFAULT_DEPTH).unwrap();
    let circuit = sample_circuit(keys.depth, 4).unwrap();
    let proof = prove(&keys, circuit.clone(), &mut rand::rngs::OsRng).unwrap();
    let bytes = presentation_of(&circuit.statement, CompressedProof::from_proof(&proof)).to_bytes();
    assert!(
        Presentation::from_bytes(&bytes[..bytes.len() - 1]).is_err(),
        "truncated"
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Presentation::from_bytes(&longer).is_err(), "trailing byte");
    let mut version = bytes.clone();
    version[0] = 2;
    assert!(Presentation::from_bytes(&version).is_err(), "version");
    let mut root = bytes.clone();
    root[129..161].copy_from_slice(&[0xff; 32]);
    assert!(Presentation::from_bytes(&root).is_err(), "root not below p");
    // A disclosed value with a leading zero byte (non-minimal) is refused.
    let mask_at = 1 + 128 + 64;
    let first_len = mask_at + 2;
    let mut padded = bytes[..first_len].to_vec();
    let len = bytes[first_len] as usize;
    padded.push(len as u8 + 1);
    padded.push(0);
    padded.extend_from_slice(&bytes[first_len + 1..]);
    assert!(
        Presentation::from_bytes(&padded).is_err(),
        "non-minimal value"
    );
}
