//! The README's examples for the seed's scenarios, run as a user would: the seed's printing
//! `worker(num)` and sleeping `square`, per-row aggregates of a CSV table, and grayscale
//! thumbnails of a folder of generated PNGs made with the `image` crate inside the sandbox.

use std::collections::BTreeSet;

use mpwasm_test_artifacts::guests;

use crate::common::{mpwasm, mpwasm_with_stdin, temp_dir};

#[test]
fn the_seed_worker_prints_from_four_processes() {
    let run = mpwasm(&["run", guests::GREETER, "--map", "1..5", "-j", "4", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    for n in 1..5 {
        assert!(
            run.stderr
                .contains(&format!("Starting worker {n}\nFinished worker {n}\n")),
            "{run:?}"
        );
    }
}

#[test]
fn the_sleeping_square_comes_back_as_completed_with_unordered() {
    let args = [
        "run",
        guests::SLEEPY_SQUARE,
        "--map",
        "0..8",
        "-j",
        "4",
        "--chunksize",
        "1",
    ];
    let ordered = mpwasm(&args);
    assert_eq!(ordered.code, 0, "{ordered:?}");
    let want: Vec<String> = (0u64..8).map(|x| (x * x).to_string()).collect();
    assert_eq!(ordered.lines(), want, "{ordered:?}");
    let mut unordered_args = args.to_vec();
    unordered_args.push("--unordered");
    let unordered = mpwasm(&unordered_args);
    assert_eq!(unordered.code, 0, "{unordered:?}");
    let got: BTreeSet<&str> = unordered.lines().into_iter().collect();
    let want_set: BTreeSet<&str> = want.iter().map(String::as_str).collect();
    assert_eq!(got, want_set, "{unordered:?}");
    // Input 1 sleeps 0 ms and input 0 sleeps 150 ms: 1 comes before 0.
    let lines = unordered.lines();
    let pos = |v: &str| lines.iter().position(|l| *l == v).expect("present");
    assert!(pos("1") < pos("0"), "{unordered:?}");
}

#[test]
fn csv_rows_are_summarized() {
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../guest-tasks/sales/data/sales.csv"
    );
    let run = mpwasm(&["run", guests::SALES, "--csv", csv]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows: Vec<serde_json::Value> = run.json_lines();
    assert_eq!(rows.len(), 5, "{run:?}");
    assert_eq!(
        rows[1],
        serde_json::json!({"region": "south", "revenue": 3675.0, "band": "medium", "label": "GADGET"})
    );
    let bands: Vec<&str> = rows
        .iter()
        .map(|r| r["band"].as_str().expect("band"))
        .collect();
    assert_eq!(bands, ["small", "medium", "large", "small", "medium"]);
}

#[test]
fn thumbnails_of_a_folder_of_images() {
    let root = temp_dir("thumbs");
    let (images, thumbs) = (root.join("images"), root.join("thumbs"));
    std::fs::create_dir_all(&images).expect("images dir");
    std::fs::create_dir_all(&thumbs).expect("thumbs dir");
    let images_rw = format!("{}::/images", images.display());
    let generated = mpwasm_with_stdin(
        &[
            "run",
            guests::THUMBNAIL,
            "--func",
            "generate",
            "--input",
            "-",
            "--dir",
            &images_rw,
        ],
        "[\"wide.png\", 640, 480]\n[\"tall.png\", 120, 900]\n[\"tiny.png\", 10, 10]\n",
    );
    assert_eq!(generated.code, 0, "{generated:?}");
    let names = "wide.png\ntall.png\ntiny.png\nmissing.png\n";
    let images_ro = format!("{}::/images:ro", images.display());
    let thumbs_rw = format!("{}::/thumbs", thumbs.display());
    let run = mpwasm_with_stdin(
        &[
            "run",
            guests::THUMBNAIL,
            "--func",
            "thumbnail",
            "--lines",
            "-",
            "--dir",
            &images_ro,
            "--dir",
            &thumbs_rw,
            "--format",
            "jsonl",
        ],
        names,
    );
    assert_eq!(run.code, 1, "the missing image fails: {run:?}");
    let lines = run.json_lines();
    let size = |i: usize| {
        (
            lines[i]["value"]["width"].clone(),
            lines[i]["value"]["height"].clone(),
        )
    };
    assert_eq!(size(0), (64.into(), 48.into()), "{run:?}");
    assert_eq!(size(1), (9.into(), 64.into()), "{run:?}");
    assert_eq!(size(2), (10.into(), 10.into()), "{run:?}");
    assert_eq!(lines[3]["error"]["kind"], "trap", "{run:?}");
    for name in ["wide.png", "tall.png", "tiny.png"] {
        let bytes = std::fs::read(thumbs.join(name)).expect("the thumbnail was written");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
    }
    let _ = std::fs::remove_dir_all(&root);
}
