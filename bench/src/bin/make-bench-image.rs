//! Writes the image the pull benchmark pulls, as an OCI layout: 5 gzip layers of about 20 MB
//! each (100 MB in all), half incompressible bytes and half text, in files of 4–64 KiB, as
//! real application images are.
//!
//! usage: make-bench-image LAYOUT_DIR TAG [MB_PER_LAYER | busybox]

use berth_testsupport::oci::{Image, Layer, Layout};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(tag)) = (args.next(), args.next()) else {
        eprintln!("usage: make-bench-image LAYOUT_DIR TAG [MB_PER_LAYER | busybox]");
        std::process::exit(2);
    };
    let size = args.next();
    if size.as_deref() == Some("busybox") {
        // The task-start benchmark's image: busybox and its common applets, one layer.
        let mut layout = Layout::new(std::path::Path::new(&dir));
        layout.tag_image(&tag, &berth_testsupport::oci::busybox_image());
        return;
    }
    let layer_bytes = size.and_then(|mb| mb.parse::<f64>().ok()).unwrap_or(20.0) * 1e6;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let text = b"berth benchmark layer content: the quick brown fox jumps over the lazy dog\n";
    let mut layers = Vec::new();
    for l in 0..5 {
        let mut layer = Layer::new();
        let mut bytes = 0usize;
        let mut i = 0;
        while (bytes as f64) < layer_bytes {
            let size = 4096 + (next() % (60 * 1024)) as usize;
            let mut content = Vec::with_capacity(size);
            while content.len() < size {
                if content.len() < size / 2 {
                    content.extend_from_slice(&next().to_le_bytes());
                } else {
                    content.extend_from_slice(text);
                }
            }
            content.truncate(size);
            layer = layer.file(&format!("layer{l}/dir{}/file{i}", i % 50), content);
            bytes += size;
            i += 1;
        }
        layers.push(layer);
    }
    let mut layout = Layout::new(std::path::Path::new(&dir));
    let digest = layout.tag_image(&tag, &Image::new(layers));
    println!("{digest}");
}
