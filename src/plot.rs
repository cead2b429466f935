//! PNG plots for the experiment examples: a scatter plot coloured by class ([`scatter_png`]) and a
//! line plot with several series ([`line_png`]).
//!
//! Drawing uses `plotters`' bitmap backend with `ab_glyph` text, so no C library is needed; the
//! pixels are encoded with the `png` crate and written atomically. Text needs a TrueType font,
//! loaded at run time ([`find_font`]): the file named by `T2L_FONT`, else the first of
//! [`FONT_CANDIDATES`] that exists; without one every plot fails with [`PlotError::NoFont`].
//!
//! ```no_run
//! use text_to_lora::plot::{PlotSpec, Series, line_png};
//! let spec = PlotSpec::new("Reconstruction error", "tasks compressed", "L1 error");
//! let series = vec![Series::new("T2L-M", vec![(4.0, 0.10), (8.0, 0.12), (16.0, 0.15)])];
//! line_png("docs/results/fig3.png".as_ref(), &spec, &series)?;
//! # Ok::<(), text_to_lora::plot::PlotError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// Environment variable naming a TrueType font file to draw text with.
pub const FONT_ENV: &str = "T2L_FONT";

/// Font files tried, in order, when [`FONT_ENV`] is not set (Debian/Ubuntu, Fedora, Arch, macOS).
pub const FONT_CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// The family name the loaded font is registered under.
const FAMILY: &str = "sans-serif";

/// Errors of plotting.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No TrueType font was found.
    #[error(
        "no TrueType font found for plot text: set {FONT_ENV} to a .ttf file (tried {searched:?})"
    )]
    NoFont {
        /// The paths tried.
        searched: Vec<PathBuf>,
    },
    /// A font file could not be read or parsed.
    #[error("font {path}: {reason}")]
    BadFont {
        /// The font file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The input cannot be plotted (empty, mismatched lengths, non-finite numbers).
    #[error("plot `{plot}`: {reason}")]
    BadInput {
        /// The plot's title.
        plot: String,
        /// What is wrong with the input.
        reason: String,
    },
    /// Drawing failed inside `plotters`.
    #[error("plot `{plot}`: drawing failed: {reason}")]
    Draw {
        /// The plot's title.
        plot: String,
        /// The backend's message.
        reason: String,
    },
    /// PNG encoding failed.
    #[error("plot `{plot}`: PNG encoding failed: {source}")]
    Encode {
        /// The plot's title.
        plot: String,
        /// The encoder's error.
        source: png::EncodingError,
    },
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] lora_core::Error),
}

/// Result of plotting.
pub type Result<T> = std::result::Result<T, PlotError>;

/// Title, axis labels and size of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSpec {
    /// Caption above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Width in pixels (including the legend column).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl PlotSpec {
    /// A 1000 × 700 plot.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            width: 1000,
            height: 700,
        }
    }

    /// The same plot at another size.
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }
}

/// One named line of a [`line_png`] plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its legend entry.
    pub name: String,
    /// Its points `(x, y)`, drawn in the given order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from its name and points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// The font file text is drawn with: `$T2L_FONT` if set, else the first existing
/// [`FONT_CANDIDATES`] entry.
pub fn find_font() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(FONT_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(PlotError::NoFont { searched: vec![p] })
        };
    }
    FONT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| PlotError::NoFont {
            searched: FONT_CANDIDATES.iter().map(PathBuf::from).collect(),
        })
}

/// Loads and registers the font once per process (the bytes live for the whole process, as
/// `plotters` requires).
fn ensure_font() -> Result<()> {
    static LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let outcome = LOADED.get_or_init(|| {
        let path = find_font().map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a valid TrueType/OpenType font", path.display()))
    });
    outcome.clone().map_err(|reason| match find_font() {
        Err(e) => e,
        Ok(path) => PlotError::BadFont { path, reason },
    })
}

/// 20 well-separated colours (matplotlib's tab20 order: strong shades first).
const PALETTE: [(u8, u8, u8); 20] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (174, 199, 232),
    (255, 187, 120),
    (152, 223, 138),
    (255, 152, 150),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (199, 199, 199),
    (219, 219, 141),
    (158, 218, 229),
];

/// Marker shapes, cycled after every 20 classes so that up to 80 classes stay distinguishable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

/// Colour and marker of class `k`.
fn class_style(k: usize) -> (RGBColor, Marker) {
    let (r, g, b) = PALETTE[k % PALETTE.len()];
    let marker = match (k / PALETTE.len()) % 4 {
        0 => Marker::Circle,
        1 => Marker::Triangle,
        2 => Marker::Square,
        _ => Marker::Cross,
    };
    (RGBColor(r, g, b), marker)
}

/// Draws one marker (pixel size `s`) at `at` on a pixel-coordinate area.
fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    s: i32,
    color: RGBColor,
    marker: Marker,
) -> std::result::Result<(), String> {
    let style = color.filled();
    let r = match marker {
        Marker::Circle => area.draw(&Circle::new(at, s, style)),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, s + 1, style)),
        Marker::Square => area.draw(&Rectangle::new(
            [(at.0 - s, at.1 - s), (at.0 + s, at.1 + s)],
            style,
        )),
        Marker::Cross => area.draw(&Cross::new(at, s, color.stroke_width(2))),
    };
    r.map_err(|e| e.to_string())
}

/// Axis range covering `values` with 5 % padding (±1 around a single value).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if hi - lo < 1e-12 {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Width of the legend column for `names`.
fn legend_width(names: &[&str], total: u32) -> u32 {
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as u32;
    (40 + 8 * longest).clamp(120, total / 2)
}

/// Draws the legend entries (marker + name) top-down in `area`.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, RGBColor, Marker)],
) -> std::result::Result<(), String> {
    let (_, h) = area.dim_in_pixel();
    let step = (((h as i32) - 60) / entries.len().max(1) as i32).clamp(8, 22);
    let font_px = (step - 4).clamp(8, 15);
    for (i, (name, color, marker)) in entries.iter().enumerate() {
        let y = 50 + i as i32 * step;
        draw_marker(area, (14, y), 5, *color, *marker)?;
        area.draw(&Text::new(
            name.to_string(),
            (26, y - font_px / 2 - 1),
            (FAMILY, font_px).into_font().color(&BLACK),
        ))
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The chart of `area`: title, axis label areas (`y_label_area` pixels for the y labels), the
/// ranges `x` and `y`, and a light mesh with the axis descriptions.
fn axes<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    spec: &PlotSpec,
    x: (f64, f64),
    y: (f64, f64),
    y_label_area: u32,
) -> std::result::Result<
    ChartContext<
        'a,
        BitMapBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    String,
> {
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&spec.x_label)
        .y_desc(&spec.y_label)
        .label_style((FAMILY, 13))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Renders with `draw` into an RGB buffer, encodes it as PNG and writes it atomically.
fn render(
    path: &Path,
    spec: &PlotSpec,
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String>,
) -> Result<()> {
    ensure_font()?;
    let (w, h) = (spec.width.max(200), spec.height.max(150));
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        draw(root).map_err(|reason| PlotError::Draw {
            plot: spec.title.clone(),
            reason,
        })?;
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let encode = |source| PlotError::Encode {
            plot: spec.title.clone(),
            source,
        };
        let mut writer = encoder.write_header().map_err(encode)?;
        writer.write_image_data(&pixels).map_err(encode)?;
        writer.finish().map_err(encode)?;
    }
    lora_core::fsutil::write_atomic(path, &bytes)?;
    Ok(())
}

/// Checks that every number is finite.
fn check_finite(spec: &PlotSpec, points: &[(f64, f64)], what: &str) -> Result<()> {
    match points
        .iter()
        .position(|(x, y)| !x.is_finite() || !y.is_finite())
    {
        Some(i) => Err(PlotError::BadInput {
            plot: spec.title.clone(),
            reason: format!("{what} point {i} is not finite: {:?}", points[i]),
        }),
        None => Ok(()),
    }
}

/// A scatter plot of `points`, point `i` coloured by class `classes[i]` (an index into
/// `class_names`), with a legend of the classes to the right; written as a PNG to `path`.
pub fn scatter_png(
    path: &Path,
    spec: &PlotSpec,
    points: &[(f64, f64)],
    classes: &[usize],
    class_names: &[String],
) -> Result<()> {
    let bad = |reason: String| PlotError::BadInput {
        plot: spec.title.clone(),
        reason,
    };
    if points.is_empty() {
        return Err(bad("no points".into()));
    }
    if points.len() != classes.len() {
        return Err(bad(format!(
            "{} points but {} class indices",
            points.len(),
            classes.len()
        )));
    }
    if let Some(&k) = classes.iter().find(|&&k| k >= class_names.len()) {
        return Err(bad(format!(
            "class index {k} but only {} class names",
            class_names.len()
        )));
    }
    check_finite(spec, points, "scatter")?;
    let x = padded_range(points.iter().map(|p| p.0));
    let y = padded_range(points.iter().map(|p| p.1));
    let names: Vec<&str> = class_names.iter().map(String::as_str).collect();
    render(path, spec, |root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let legend_w = legend_width(&names, spec.width);
        let (plot_area, legend_area) = root.split_horizontally(spec.width - legend_w);
        let mut chart = axes(&plot_area, spec, x, y, 55)?;
        let mut present: Vec<usize> = classes.to_vec();
        present.sort_unstable();
        present.dedup();
        for &k in &present {
            let (color, marker) = class_style(k);
            let mine = || {
                points
                    .iter()
                    .zip(classes)
                    .filter(move |(_, c)| **c == k)
                    .map(|(p, _)| *p)
            };
            let drawn = match marker {
                Marker::Circle => chart
                    .draw_series(mine().map(|p| Circle::new(p, 4, color.filled())))
                    .map(|_| ()),
                Marker::Triangle => chart
                    .draw_series(mine().map(|p| TriangleMarker::new(p, 5, color.filled())))
                    .map(|_| ()),
                Marker::Square => chart
                    .draw_series(mine().map(|p| {
                        EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], color.filled())
                    }))
                    .map(|_| ()),
                Marker::Cross => chart
                    .draw_series(mine().map(|p| Cross::new(p, 4, color.stroke_width(2))))
                    .map(|_| ()),
            };
            drawn.map_err(|e| e.to_string())?;
        }
        let entries: Vec<(&str, RGBColor, Marker)> = present
            .into_iter()
            .map(|k| {
                let (c, m) = class_style(k);
                (names[k], c, m)
            })
            .collect();
        draw_legend(&legend_area, &entries)?;
        root.present().map_err(|e| e.to_string())
    })
}

/// A line plot of several series (each with markers at its points), with a legend to the right;
/// written as a PNG to `path`.
pub fn line_png(path: &Path, spec: &PlotSpec, series: &[Series]) -> Result<()> {
    let bad = |reason: String| PlotError::BadInput {
        plot: spec.title.clone(),
        reason,
    };
    if series.is_empty() || series.iter().all(|s| s.points.is_empty()) {
        return Err(bad("no points".into()));
    }
    for s in series {
        check_finite(spec, &s.points, &s.name)?;
    }
    let all = || series.iter().flat_map(|s| s.points.iter().copied());
    let x = padded_range(all().map(|p| p.0));
    let y = padded_range(all().map(|p| p.1));
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    render(path, spec, |root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let legend_w = legend_width(&names, spec.width);
        let (plot_area, legend_area) = root.split_horizontally(spec.width - legend_w);
        let mut chart = axes(&plot_area, spec, x, y, 60)?;
        for (k, s) in series.iter().enumerate() {
            let (color, _) = class_style(k);
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        let entries: Vec<(&str, RGBColor, Marker)> = names
            .iter()
            .enumerate()
            .map(|(k, n)| (*n, class_style(k).0, Marker::Circle))
            .collect();
        draw_legend(&legend_area, &entries)?;
        root.present().map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG file: (width, height, RGB pixels).
    fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
        let bytes = std::fs::read(path).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    /// Pixels of (about) colour `c` in an RGB buffer.
    fn count_colour(pixels: &[u8], c: (u8, u8, u8)) -> usize {
        pixels
            .chunks(3)
            .filter(|p| p[0].abs_diff(c.0) < 8 && p[1].abs_diff(c.1) < 8 && p[2].abs_diff(c.2) < 8)
            .count()
    }

    #[test]
    fn scatter_writes_a_decodable_png_with_each_class_colour() {
        if find_font().is_err() {
            // Without a font the typed error is the behaviour under test.
            let dir = tempfile::tempdir().unwrap();
            let e = scatter_png(
                &dir.path().join("s.png"),
                &PlotSpec::new("t", "x", "y"),
                &[(0.0, 0.0)],
                &[0],
                &["a".into()],
            )
            .unwrap_err();
            assert!(matches!(e, PlotError::NoFont { .. }), "{e}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scatter.png");
        let points: Vec<(f64, f64)> = (0..30)
            .map(|i| ((i % 3) as f64 * 10.0 + (i as f64) * 0.1, (i / 3) as f64))
            .collect();
        let classes: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let names = vec!["arc_easy".to_string(), "boolq".into(), "piqa".into()];
        let spec = PlotSpec::new("t-SNE", "dim 1", "dim 2").with_size(640, 480);
        scatter_png(&path, &spec, &points, &classes, &names).unwrap();
        let (w, h, pixels) = decode(&path);
        assert_eq!((w, h), (640, 480));
        for (k, &colour) in PALETTE.iter().enumerate().take(3) {
            let n = count_colour(&pixels, colour);
            assert!(n > 30, "class {k} colour has only {n} pixels");
        }
        // A fourth class colour was not used.
        assert_eq!(count_colour(&pixels, PALETTE[4]), 0);
    }

    #[test]
    fn line_plot_writes_a_decodable_png() {
        if find_font().is_err() {
            return scatter_writes_a_decodable_png_with_each_class_colour();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.png");
        let series = vec![
            Series::new("oracle", vec![(1.0, 0.5), (2.0, 0.6), (4.0, 0.7)]),
            Series::new("T2L-M", vec![(1.0, 0.4), (2.0, 0.55), (4.0, 0.65)]),
        ];
        line_png(&path, &PlotSpec::new("lines", "n", "acc"), &series).unwrap();
        let (w, h, pixels) = decode(&path);
        assert_eq!((w, h), (1000, 700));
        assert!(count_colour(&pixels, PALETTE[0]) > 50);
        assert!(count_colour(&pixels, PALETTE[1]) > 50);
    }

    #[test]
    fn bad_input_is_a_typed_error_naming_the_plot() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PlotSpec::new("fig", "x", "y");
        let p = dir.path().join("x.png");
        let e = scatter_png(&p, &spec, &[(0.0, 0.0)], &[], &[]).unwrap_err();
        assert!(
            matches!(e, PlotError::BadInput { .. }) && e.to_string().contains("fig"),
            "{e}"
        );
        let e = scatter_png(&p, &spec, &[(0.0, 0.0)], &[1], &["a".into()]).unwrap_err();
        assert!(e.to_string().contains("class index 1"), "{e}");
        let e = line_png(&p, &spec, &[Series::new("s", vec![(0.0, f64::NAN)])]).unwrap_err();
        assert!(e.to_string().contains("not finite"), "{e}");
        assert!(line_png(&p, &spec, &[]).is_err());
        assert!(!p.exists());
    }
}
