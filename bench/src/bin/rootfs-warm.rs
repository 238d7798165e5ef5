//! Warm "rootfs ready" time: berth mounting a root filesystem for an image already in its
//! store (and removing it), against a bare overlay mount of the same layers by the same
//! syscall, in one run. Run as root on a store that holds the image.
//!
//! usage: rootfs-warm IMAGES_DIR REFERENCE [ITERATIONS]

use std::sync::Arc;
use std::time::Instant;

use berth_image::ImageStore;
use berth_image::registry::RegistryConfig;
use berth_sys::{LinuxMounter, Mounter, OverlayMount};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(images_dir), Some(reference)) = (args.first(), args.get(1)) else {
        eprintln!("usage: rootfs-warm IMAGES_DIR REFERENCE [ITERATIONS]");
        std::process::exit(2);
    };
    let iterations: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(200);
    let store = ImageStore::open(
        images_dir.as_ref(),
        RegistryConfig::default(),
        Arc::new(LinuxMounter),
    )
    .unwrap();
    let record = store.get(reference).unwrap();
    let scratch_root = tempfile_dir();

    let mut berth = Vec::new();
    let mut bare = Vec::new();
    let mounter = LinuxMounter;
    for i in 0..iterations {
        // berth: the whole path a task start takes (lease, directories, mount) and back.
        let scratch = scratch_root.join(format!("b{i}"));
        let start = Instant::now();
        let rootfs = store
            .mount_rootfs(&format!("bench{i}"), reference, &scratch)
            .unwrap();
        berth.push(start.elapsed());
        assert!(rootfs.path.join("layer0").exists());
        store.unmount_rootfs(&format!("bench{i}")).unwrap();

        // Reference: directories and the overlay mount syscall alone.
        let scratch = scratch_root.join(format!("r{i}"));
        let overlay = OverlayMount {
            lowers: record
                .layers
                .iter()
                .rev()
                .map(|d| {
                    std::path::Path::new(images_dir)
                        .join("layers")
                        .join(d.hex())
                })
                .collect(),
            upper: scratch.join("upper"),
            work: scratch.join("work"),
            target: scratch.join("rootfs"),
        };
        let start = Instant::now();
        for dir in [&overlay.upper, &overlay.work, &overlay.target] {
            std::fs::create_dir_all(dir).unwrap();
        }
        mounter.mount_overlay(&overlay).unwrap();
        bare.push(start.elapsed());
        mounter.unmount(&overlay.target).unwrap();
        std::fs::remove_dir_all(&scratch).unwrap();
    }
    let (berth_median, berth_p99) = berth_bench::median_p99(&mut berth);
    let (bare_median, bare_p99) = berth_bench::median_p99(&mut bare);
    println!(
        "rootfs ready ({} layers, {iterations} iterations)",
        record.layers.len()
    );
    println!(
        "  berth mount_rootfs: median {:.3} ms, p99 {:.3} ms",
        ms(berth_median),
        ms(berth_p99)
    );
    println!(
        "  bare overlay mount: median {:.3} ms, p99 {:.3} ms",
        ms(bare_median),
        ms(bare_p99)
    );
    println!(
        "  ratio (median): {:.2}x",
        ms(berth_median) / ms(bare_median)
    );
    let _ = std::fs::remove_dir_all(&scratch_root);
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-rootfs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
