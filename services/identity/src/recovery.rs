//! Getting back into an account without e-mail or phone: a one-time code printed on a sheet
//! the person keeps (with a QR code an agent's tablet can scan), or a recovery at the desk
//! approved by a second agent.

use qrcode::QrCode;
use qrcode::render::svg;

pub use passerelle_access::codes::{new_code, normalize as normalize_code};

/// The stored form of a recovery code, bound to its username.
pub fn code_hash(username: &str, code: &str) -> String {
    passerelle_access::codes::hash_in(username, code)
}

/// What the QR code holds: the username and the code, for the recovery screen to fill in.
pub fn qr_payload(username: &str, code: &str) -> String {
    format!("passerelle-recovery:{username}:{code}")
}

/// The QR code as an SVG image.
pub fn qr_svg(username: &str, code: &str) -> String {
    match QrCode::new(qr_payload(username, code).as_bytes()) {
        Ok(qr) => qr
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// A one-page A4 PDF: the username, the code in large type, and the QR code, in French with
/// an English line. Written directly (the standard Helvetica and Courier fonts, WinAnsi
/// encoding for accents), so it prints on any printer with no font to embed.
pub fn sheet_pdf(username: &str, code: &str) -> Vec<u8> {
    let mut content = String::new();
    let mut text = |font: &str, size: u32, x: u32, y: u32, line: &str| {
        content.push_str(&format!(
            "BT /{font} {size} Tf {x} {y} Td ({}) Tj ET\n",
            pdf_string(line)
        ));
    };
    text("F2", 22, 56, 770, "Passerelle — votre feuille de secours");
    text(
        "F1",
        12,
        56,
        740,
        "Gardez cette feuille en lieu sûr. Elle permet de retrouver votre compte",
    );
    text(
        "F1",
        12,
        56,
        724,
        "sans e-mail ni téléphone, seul ou avec l'aide d'un agent.",
    );
    text("F1", 14, 56, 680, "Votre identifiant :");
    text("F3", 24, 56, 650, username);
    text("F1", 14, 56, 610, "Votre code de secours :");
    text("F3", 30, 56, 574, code);
    text(
        "F1",
        12,
        56,
        540,
        "Ce code ne sert qu'une seule fois. Après usage, une nouvelle feuille vous est remise.",
    );
    text(
        "F1",
        10,
        56,
        120,
        "Recovery sheet: keep it safe. The code works once and lets you back into your account.",
    );
    text(
        "F1",
        10,
        56,
        104,
        "Ne donnez jamais ce code par téléphone : aucun agent ne vous le demandera.",
    );

    if let Ok(qr) = QrCode::new(qr_payload(username, code).as_bytes()) {
        let width = qr.width();
        let module = 180.0 / width as f64;
        let (left, top) = (56.0, 500.0);
        content.push_str("0 0 0 rg\n");
        for (i, color) in qr.to_colors().iter().enumerate() {
            if *color == qrcode::Color::Dark {
                let (col, row) = (i % width, i / width);
                let x = left + col as f64 * module;
                let y = top - (row as f64 + 1.0) * module;
                content.push_str(&format!("{x:.2} {y:.2} {module:.2} {module:.2} re f\n"));
            }
        }
    }

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 6 0 R /F3 7 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", pdf_bytes(&content).len()),
        font("Helvetica"),
        font("Helvetica-Bold"),
        font("Courier-Bold"),
    ];
    let mut pdf: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(&pdf_bytes(object));
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

fn font(name: &str) -> String {
    format!("<< /Type /Font /Subtype /Type1 /BaseFont /{name} /Encoding /WinAnsiEncoding >>")
}

/// Escapes a text line for a PDF string literal.
fn pdf_string(line: &str) -> String {
    let mut out = String::new();
    for c in line.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Text to WinAnsi bytes: Latin-1 as is, and the few typographic marks French uses.
fn pdf_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '—' => 0x97,
            '–' => 0x96,
            '’' => 0x92,
            '•' => 0x95,
            '€' => 0x80,
            '«' => 0xAB,
            '»' => 0xBB,
            c if (c as u32) < 0x100 => c as u8,
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sheet_is_a_well_formed_pdf_with_the_code() {
        let pdf = sheet_pdf("soleil-4821", "7KQ4-M2XD-9PWA");
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("(7KQ4-M2XD-9PWA) Tj"));
        assert!(text.contains("(soleil-4821) Tj"));
        assert!(text.contains(" re f"), "the QR code is drawn");
        // Every xref offset points at its object.
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let table = &pdf[xref_at..];
        let table = String::from_utf8_lossy(table);
        for (n, line) in table.lines().skip(3).take(7).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(
                pdf[offset..].starts_with(format!("{} 0 obj", n + 1).as_bytes()),
                "object {}",
                n + 1
            );
        }
        // Accents are encoded in WinAnsi, not as UTF-8.
        assert!(pdf.windows(3).any(|w| w == b"s\xfbr"), "sûr in WinAnsi");
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("soleil-4821", "7KQ4-M2XD-9PWA");
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
