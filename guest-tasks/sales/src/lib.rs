//! `summarize(row)`: per-row aggregates of a sales table, fed with `mpwasm run --csv`.

use bindings::exports::mpwasm::tasks::sales_rows::{Guest, Sale, Totals};

/// Bindings generated from `wit/` (kept in a private module, out of the crate's public API).
mod bindings {
    wit_bindgen::generate!({ path: "../../wit", world: "sales" });
}

struct Task;

impl Guest for Task {
    fn summarize(row: Sale) -> Totals {
        let revenue = f64::from(row.units) * row.unit_price;
        let band = if revenue < 1000.0 {
            "small"
        } else if revenue < 10000.0 {
            "medium"
        } else {
            "large"
        };
        Totals {
            region: row.region,
            revenue: (revenue * 100.0).round() / 100.0,
            band: band.to_string(),
            label: row.product.to_uppercase(),
        }
    }
}

bindings::export!(Task with_types_in bindings);
