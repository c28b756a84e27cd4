"""`summarize(row)`: the aggregates of one row of a sales table, fed with `mpwasm run --csv`;
the Python version of `guest-tasks/sales` (see `wit/sales.wit`). mpwasm turns each CSV row
into the `sale` record by the header's names."""

from wit_world import exports
from wit_world.exports.sales_rows import Sale, Totals


class SalesRows(exports.SalesRows):
    def summarize(self, row: Sale) -> Totals:
        revenue = row.units * row.unit_price
        if revenue < 1000:
            band = "small"
        elif revenue < 10000:
            band = "medium"
        else:
            band = "large"
        return Totals(
            region=row.region,
            revenue=round(revenue * 100) / 100,
            band=band,
            label=row.product.upper(),
        )
