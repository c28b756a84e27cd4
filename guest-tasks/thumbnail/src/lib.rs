//! Image processing inside the sandbox: `generate` writes PNG test patterns into a granted
//! directory, `thumbnail` turns each into a grayscale thumbnail with the `image` crate.

use std::io::Cursor;
use std::path::Path;

use bindings::{Guest, Thumb};
use image::{ImageFormat, Rgb, RgbImage};

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "thumbnail" });
}

/// Where the images are, and where thumbnails go (granted with `--dir`).
const IMAGES: &str = "/images";
const THUMBS: &str = "/thumbs";
/// The largest thumbnail side.
const SIDE: u32 = 64;

/// A file name, refused if it tries to leave the directory.
fn file_in(dir: &str, name: &str) -> std::path::PathBuf {
    assert!(
        !name.is_empty() && !name.contains('/') && name != ".." && name != ".",
        "`{name}` is not a plain file name"
    );
    Path::new(dir).join(name)
}

struct Task;

impl Guest for Task {
    fn generate(name: String, width: u32, height: u32) -> u64 {
        let seed = name
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let img = RgbImage::from_fn(width, height, |x, y| {
            let r = (x * 255 / width.max(1)) as u8;
            let g = (y * 255 / height.max(1)) as u8;
            let b = ((x ^ y).wrapping_add(seed) & 0xff) as u8;
            Rgb([r, g, b])
        });
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap_or_else(|e| panic!("cannot encode {name}: {e}"));
        let path = file_in(IMAGES, &name);
        std::fs::write(&path, &png).unwrap_or_else(|e| {
            panic!("cannot write {} (grant it with --dir): {e}", path.display())
        });
        png.len() as u64
    }

    fn thumbnail(name: String) -> Thumb {
        let path = file_in(IMAGES, &name);
        let img = image::open(&path)
            .unwrap_or_else(|e| panic!("cannot read {} as an image: {e}", path.display()));
        // Shrink to fit (`thumbnail` alone would also enlarge a small image).
        let fitted = if img.width() > SIDE || img.height() > SIDE {
            img.thumbnail(SIDE, SIDE)
        } else {
            img
        };
        let thumb = fitted.grayscale();
        let mut png = Vec::new();
        thumb
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap_or_else(|e| panic!("cannot encode the thumbnail of {name}: {e}"));
        let out = file_in(THUMBS, &name);
        std::fs::write(&out, &png).unwrap_or_else(|e| {
            panic!("cannot write {} (grant it with --dir): {e}", out.display())
        });
        Thumb {
            name,
            width: thumb.width(),
            height: thumb.height(),
            bytes: png.len() as u64,
        }
    }
}

bindings::export!(Task with_types_in bindings);
