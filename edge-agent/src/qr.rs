//! QR codes as inline SVG, for what people scan: a table's pairing link on its TV, the agent's
//! LAN addresses in the staff console. The encoder is the `qrcode` crate; this module only picks
//! the look (dark on light, a quiet zone, scalable).

use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG image of a QR code for `text`, or `None` if `text` is too long for a QR code. The SVG
/// has no fixed size (it scales to its box) and contains nothing from `text` but the modules.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .quiet_zone(true)
        .build();
    // Drop the XML declaration and the fixed width/height so it can be inlined and scaled by CSS.
    let start = image.find("<svg")?;
    Some(strip_size(&image[start..]))
}

/// Removes the `width="…" height="…"` attributes of the root element (the viewBox stays).
fn strip_size(svg: &str) -> String {
    let Some(end) = svg.find('>') else {
        return svg.to_owned();
    };
    let (root, rest) = svg.split_at(end);
    let root: Vec<&str> = root
        .split(' ')
        .filter(|attr| !attr.starts_with("width=") && !attr.starts_with("height="))
        .collect();
    format!("{}{rest}", root.join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_link_becomes_a_scalable_svg() {
        let image = svg("http://192.168.1.20:8080/p/ABC123").unwrap();
        assert!(image.starts_with("<svg"), "{image}");
        assert!(image.contains("viewBox"), "{image}");
        let root = &image[..image.find('>').unwrap()];
        assert!(
            !root.contains(" width="),
            "the root has no fixed size: {image}"
        );
        assert!(!image.contains("192.168"), "only modules, no text: {image}");
        assert!(image.contains("#000"));
    }

    #[test]
    fn too_long_is_none() {
        assert!(svg(&"x".repeat(8000)).is_none());
    }
}
