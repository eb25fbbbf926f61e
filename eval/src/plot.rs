//! The plot of weighted quality against mean wall time, as a PNG (pure Rust: plotters,
//! with the DejaVu Sans font from the `dejavu` crate, so no system font is needed).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::error::{Error, Result};
use crate::score::Summary;
use crate::suite::max_weighted_quality;
use crate::target::TargetKind;

const FONT: &str = "sans-serif";

fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok())
}

fn colour(s: &Summary) -> RGBColor {
    if s.kind == TargetKind::Http {
        RGBColor(44, 160, 44)
    } else if s.backend.contains("NPU") {
        RGBColor(214, 39, 40)
    } else {
        RGBColor(31, 119, 180)
    }
}

/// Draws the models as points (quality up, wall time right; red NPU, blue CPU, green
/// an endpoint) with the curve of equal score through the best model: every point on it scores
/// the same, so models above it beat the best's trade-off.
pub fn quality_vs_wall(summaries: &[Summary], path: &Path) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if !font_ready() {
        return Err(fail(&"the embedded font did not load"));
    }
    let root = BitMapBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let max_wall = summaries.iter().map(|s| s.avg_wall).fold(1.0_f64, f64::max) * 1.2;
    let top = max_weighted_quality() + 1.0;
    let mut chart = ChartBuilder::on(&root)
        .caption("edge-eval: quality against wall time", (FONT, 26))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_wall, 0.0..top)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("mean wall time per test (s)")
        .y_desc(format!("weighted quality (of {})", max_weighted_quality()))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(|e| fail(&e))?;
    let mut legend = false;
    if let Some(best) = summaries.iter().max_by(|a, b| a.score.total_cmp(&b.score)) {
        if best.score > 0.0 {
            legend = true;
            // quality = score * wall / 60 (where 60 / wall >= 0.1).
            let steps = 200;
            let curve = (1..=steps).filter_map(|i| {
                let w = max_wall * i as f64 / steps as f64;
                let q = best.score * w.min(600.0) / 60.0;
                (q <= top).then_some((w, q))
            });
            chart
                .draw_series(DashedLineSeries::new(
                    curve,
                    6,
                    4,
                    RGBColor(150, 150, 150).into(),
                ))
                .map_err(|e| fail(&e))?
                .label(format!("equal score to the best ({:.1})", best.score))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(150, 150, 150)));
        }
    }
    for s in summaries {
        let c = colour(s);
        let label = format!("{} ({:.1})", s.name, s.score);
        // Labels of points in the right part go to their left, so they stay on the plot.
        let dx = if s.avg_wall > max_wall * 0.6 {
            -10 - 8 * label.chars().count() as i32
        } else {
            10
        };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((s.avg_wall, s.weighted))
                    + Circle::new((0, 0), 7, c.filled())
                    + Text::new(label, (dx, -16), (FONT, 15).into_font().color(&BLACK)),
            ))
            .map_err(|e| fail(&e))?;
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
