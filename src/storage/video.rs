//! Video files through ffmpeg, the media tool made for the job (Debian's `ffmpeg` package,
//! which brings `ffprobe` too): encoding the builtin renderer's frames as H.264 MP4,
//! checking a provider's clip, making the copy that is served (the same streams, no
//! metadata) and a poster frame for the thumbnail.
//!
//! ffmpeg runs as a child process on files in a private workspace under the data folder
//! (0700, files 0600; leftovers of a killed process are removed at start): the input
//! container is named, never guessed from the bytes by ffmpeg; only the `file` and `pipe`
//! protocols are allowed, so a crafted playlist cannot make it fetch anything; and every
//! run has a time limit. Everything here blocks: call it off the executor.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::RgbImage;

/// Longest clip accepted from a provider.
pub const MAX_SECONDS: f64 = 60.0;
/// Longest a single ffmpeg run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The two containers Atelier stores and serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mp4,
    WebM,
}

impl Container {
    /// Recognises MP4 (`ftyp` box first) and WebM (an EBML header naming `webm`).
    pub fn detect(bytes: &[u8]) -> Option<Container> {
        if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
            Some(Container::Mp4)
        } else if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3])
            && bytes[..bytes.len().min(64)]
                .windows(4)
                .any(|w| w == b"webm")
        {
            Some(Container::WebM)
        } else {
            None
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::WebM => "webm",
        }
    }

    /// ffmpeg's demuxer for it.
    fn demuxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mov",
            Container::WebM => "matroska",
        }
    }

    /// ffmpeg's muxer for it.
    fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::WebM => "webm",
        }
    }
}

/// Video codecs a clip may carry (what browsers play in MP4 and WebM).
const VIDEO_CODECS: [&str; 5] = ["h264", "hevc", "av1", "vp8", "vp9"];

/// Why a clip was refused or could not be made, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoProblem {
    /// Not MP4 or WebM, or no playable video stream inside.
    Unsupported(String),
    /// Too long or too many pixels.
    TooLarge(String),
    /// ffmpeg failed or timed out (the detail is logged).
    ToolFailed,
}

impl VideoProblem {
    pub fn message(&self) -> String {
        match self {
            VideoProblem::Unsupported(detail) | VideoProblem::TooLarge(detail) => detail.clone(),
            VideoProblem::ToolFailed => {
                "The video could not be processed on the server. Please try again.".into()
            }
        }
    }
}

/// What is stored for a clip besides the provider's bytes.
pub struct PreparedVideo {
    pub container: Container,
    /// The same streams with no metadata, the moov atom first (plays while loading).
    pub served: Vec<u8>,
    /// A JPEG frame from early in the clip, longest side 320 px.
    pub poster: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub duration_ms: i32,
}

/// A provider's clip on disk in its own private workspace (removed when dropped), and its
/// file, open for writing.
pub struct StagedClip {
    work: tempfile::TempDir,
    path: PathBuf,
    pub file: std::fs::File,
}

impl StagedClip {
    /// Empties the file, for a download that starts again.
    pub fn restart(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.file.set_len(0)?;
        self.file.rewind()?;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// The clip's bytes; call with memory reserved for [`StagedClip::size`] of them.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }
}

/// Where the two programs are; found (and checked to run) at start.
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    /// Where each run gets its private folder.
    work_root: PathBuf,
}

impl Ffmpeg {
    /// `ffmpeg` as configured (a name on `PATH` or a path) and the `ffprobe` beside it, if
    /// both run, working in private folders under `work_root` (made 0700, and cleared of
    /// what a killed process left there); otherwise why not.
    pub fn find(configured: &str, work_root: &Path) -> Result<Ffmpeg, String> {
        let ffmpeg = PathBuf::from(configured);
        let ffprobe = match ffmpeg.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            Some(dir) => dir.join("ffprobe"),
            None => PathBuf::from("ffprobe"),
        };
        for program in [&ffmpeg, &ffprobe] {
            let ran = Command::new(program)
                .arg("-version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match ran {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    return Err(format!("{} -version failed ({status})", program.display()));
                }
                Err(err) => return Err(format!("{} cannot be run: {err}", program.display())),
            }
        }
        prepare_work_root(work_root)
            .map_err(|err| format!("cannot prepare {}: {err}", work_root.display()))?;
        Ok(Ffmpeg {
            ffmpeg,
            ffprobe,
            work_root: work_root.to_owned(),
        })
    }

    /// Encodes `frames` (all `width`×`height`) as an H.264 MP4 at `fps` that Chromium,
    /// Firefox and Safari play. Two encoder threads, so the bytes are the same on any
    /// machine.
    pub fn encode_h264(
        &self,
        width: u32,
        height: u32,
        fps: u32,
        frames: impl Iterator<Item = RgbImage>,
    ) -> Result<Vec<u8>, VideoProblem> {
        let work = workspace(&self.work_root)?;
        let out = work.path().join("clip.mp4");
        let size = format!("{width}x{height}");
        let rate = fps.to_string();
        let mut command = self.command(&work);
        command
            .args([
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size, "-r", &rate,
            ])
            .args(["-i", "pipe:0"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"])
            .args(["-pix_fmt", "yuv420p", "-threads", "2"])
            .args(["-movflags", "+faststart", "-map_metadata", "-1"])
            .args(["-fflags", "+bitexact", "-flags", "+bitexact", "-f", "mp4"])
            .arg(&out)
            .stdin(Stdio::piped());
        let mut child = command.spawn().map_err(|err| failed("spawn ffmpeg", err))?;
        let fed = (|| {
            let mut stdin = child
                .stdin
                .take()
                .ok_or_else(|| std::io::Error::other("no stdin"))?;
            for frame in frames {
                if frame.dimensions() != (width, height) {
                    return Err(std::io::Error::other("a frame of another size"));
                }
                stdin.write_all(frame.as_raw())?;
            }
            Ok(())
        })();
        finish(child, &work, "encode")?;
        fed.map_err(|err| failed("feed frames to ffmpeg", err))?;
        std::fs::read(&out).map_err(|err| failed("read the encoded clip", err))
    }

    /// A private workspace with an empty file for a provider's clip to be written to, so
    /// a clip of up to 200 MB goes to disk as it arrives instead of into memory.
    pub fn stage(&self) -> Result<StagedClip, VideoProblem> {
        use std::os::unix::fs::OpenOptionsExt;
        let work = workspace(&self.work_root)?;
        let path = work.path().join("clip");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|err| failed("make the clip's file", err))?;
        Ok(StagedClip { work, path, file })
    }

    /// Checks a clip (MP4 or WebM with a browser-playable video stream, at most
    /// [`MAX_SECONDS`] long and `max_pixels` a frame) and makes what is stored with it.
    pub fn prepare(&self, bytes: &[u8], max_pixels: u64) -> Result<PreparedVideo, VideoProblem> {
        let mut staged = self.stage()?;
        staged
            .file
            .write_all(bytes)
            .map_err(|err| failed("write the clip", err))?;
        self.prepare_staged(&staged, max_pixels)
    }

    /// As [`Ffmpeg::prepare`], for a clip already written to its staged file.
    pub fn prepare_staged(
        &self,
        staged: &StagedClip,
        max_pixels: u64,
    ) -> Result<PreparedVideo, VideoProblem> {
        let mut head = Vec::with_capacity(64);
        std::fs::File::open(&staged.path)
            .and_then(|file| file.take(64).read_to_end(&mut head))
            .map_err(|err| failed("read the clip", err))?;
        let container = Container::detect(&head).ok_or_else(|| {
            VideoProblem::Unsupported("The video is not an MP4 or WebM file.".into())
        })?;
        // The demuxer is named on every run, so the file needs no extension.
        let (work, input) = (&staged.work, &staged.path);
        let probe = self.probe(work, input, container)?;
        let Probe {
            width,
            height,
            seconds,
            codec,
        } = probe;
        if u64::from(width) * u64::from(height) > max_pixels {
            return Err(VideoProblem::TooLarge(format!(
                "The video is {width}×{height} pixels; the limit is {} megapixels.",
                max_pixels / 1_000_000
            )));
        }
        if seconds > MAX_SECONDS {
            return Err(VideoProblem::TooLarge(format!(
                "The video is {seconds:.0} seconds long; the limit is {MAX_SECONDS:.0}."
            )));
        }
        // The served copy: first video stream and first audio stream, copied as they
        // are, with no global, stream or chapter metadata.
        let served = work.path().join(format!("served.{}", container.ext()));
        let mut command = self.command(work);
        command
            .args(["-f", container.demuxer(), "-i"])
            .arg(input)
            .args(["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"]);
        // SEI units inside H.264/HEVC streams carry encoder banners and provider notes.
        match codec {
            "h264" => command.args(["-bsf:v", "filter_units=remove_types=6"]),
            "hevc" => command.args(["-bsf:v", "filter_units=remove_types=39|40"]),
            _ => &mut command,
        };
        command
            .args(["-map_metadata", "-1", "-map_metadata:s:v", "-1"])
            .args(["-map_metadata:s:a", "-1", "-map_chapters", "-1"])
            .args(["-fflags", "+bitexact", "-flags", "+bitexact"]);
        if container == Container::Mp4 {
            command.args(["-movflags", "+faststart"]);
        }
        command.args(["-f", container.muxer()]).arg(&served);
        run(command, work, "remux")?;
        // The poster: a frame a little way in (the very first is often black), scaled to
        // fit 320 px.
        let poster = work.path().join("poster.jpg");
        let at = format!("{:.3}", (seconds / 4.0).min(1.0));
        let mut command = self.command(work);
        command
            .args(["-ss", &at, "-f", container.demuxer(), "-i"])
            .arg(&served)
            .args(["-frames:v", "1", "-an"])
            .args(["-vf", "scale=320:320:force_original_aspect_ratio=decrease"])
            .args(["-c:v", "mjpeg", "-q:v", "3", "-fflags", "+bitexact"])
            .args(["-flags", "+bitexact", "-f", "image2"])
            .arg(&poster);
        run(command, work, "poster")?;
        let read =
            |path: &Path| std::fs::read(path).map_err(|err| failed("read ffmpeg's output", err));
        let poster = read(&poster)?;
        if poster.is_empty() {
            return Err(VideoProblem::Unsupported(
                "The video has no frame that could be shown.".into(),
            ));
        }
        Ok(PreparedVideo {
            container,
            served: read(&served)?,
            poster,
            width,
            height,
            duration_ms: i32::try_from((seconds * 1000.0).round() as i64)
                .unwrap_or(i32::MAX)
                .max(1),
        })
    }

    fn probe(
        &self,
        work: &tempfile::TempDir,
        input: &Path,
        container: Container,
    ) -> Result<Probe, VideoProblem> {
        let mut command = Command::new(&self.ffprobe);
        command
            .current_dir(work.path())
            .args(["-v", "error", "-protocol_whitelist", "file"])
            .args(["-f", container.demuxer()])
            .args([
                "-show_entries",
                "stream=codec_type,codec_name,width,height:format=duration",
            ])
            .args(["-of", "json"])
            .arg(input)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .map_err(|err| failed("spawn ffprobe", err))?;
        let mut out = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = stdout.take(1 << 20).read_to_end(&mut out);
        }
        let status = wait_limited(&mut child)?;
        let unreadable = || VideoProblem::Unsupported("The video file could not be read.".into());
        if !status.success() {
            return Err(unreadable());
        }
        let report: ProbeReport = serde_json::from_slice(&out).map_err(|_| unreadable())?;
        let stream = report
            .streams
            .iter()
            .find(|s| s.codec_type.as_deref() == Some("video"))
            .ok_or_else(|| VideoProblem::Unsupported("The file holds no video.".into()))?;
        let named = stream.codec_name.as_deref().unwrap_or("unknown");
        let codec = VIDEO_CODECS
            .iter()
            .find(|known| **known == named)
            .ok_or_else(|| {
                VideoProblem::Unsupported(format!(
                    "The video's codec ({named}) is not one browsers play."
                ))
            })?;
        let seconds = report
            .format
            .and_then(|f| f.duration)
            .and_then(|d| d.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or_else(unreadable)?;
        match (stream.width, stream.height) {
            (Some(width), Some(height)) if width > 0 && height > 0 => Ok(Probe {
                width,
                height,
                seconds,
                codec,
            }),
            _ => Err(unreadable()),
        }
    }

    /// ffmpeg with the options every run shares: no stdin prompts, errors only (to a file
    /// in the workspace), local files only.
    fn command(&self, work: &tempfile::TempDir) -> Command {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(&self.ffmpeg);
        // SAFETY: umask is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0o077);
                Ok(())
            });
        }
        command
            .current_dir(work.path())
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(["-protocol_whitelist", "file,pipe"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // ffmpeg's own files are created 0600 too (umask 077 in the child, below).
        match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(work.path().join("ffmpeg.log"))
        {
            Ok(log) => command.stderr(log),
            Err(_) => command.stderr(Stdio::null()),
        };
        command
    }
}

struct Probe {
    width: u32,
    height: u32,
    seconds: f64,
    codec: &'static str,
}

#[derive(serde::Deserialize)]
struct ProbeReport {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(serde::Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

#[derive(serde::Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

const WORKSPACE_PREFIX: &str = "atelier-video-";

/// A workspace older than this is a killed process's (no run lives that long).
const LEFTOVER_AGE: Duration = Duration::from_secs(30 * 60);

/// Makes `root` (0700) and removes the workspaces a killed process left there; ones young
/// enough to belong to another instance on the same data folder stay.
fn prepare_work_root(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    super::create_private_dir(root)?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(WORKSPACE_PREFIX));
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|at| at.elapsed().unwrap_or_default() > LEFTOVER_AGE);
        if ours && old && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// A private (0700) folder under `root`, removed when dropped.
fn workspace(root: &Path) -> Result<tempfile::TempDir, VideoProblem> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(WORKSPACE_PREFIX)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(root)
        .map_err(|err| failed("make a workspace folder", err))
}

fn run(mut command: Command, work: &tempfile::TempDir, step: &str) -> Result<(), VideoProblem> {
    let child = command.spawn().map_err(|err| failed("spawn ffmpeg", err))?;
    finish(child, work, step)
}

/// Waits for ffmpeg within the time limit; a failure is logged with ffmpeg's own words.
fn finish(mut child: Child, work: &tempfile::TempDir, step: &str) -> Result<(), VideoProblem> {
    let status = wait_limited(&mut child)?;
    if status.success() {
        return Ok(());
    }
    let log = std::fs::read_to_string(work.path().join("ffmpeg.log")).unwrap_or_default();
    let tail: String = log
        .chars()
        .rev()
        .take(400)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    tracing::warn!(step, %status, ffmpeg = tail.trim(), "ffmpeg failed");
    Err(VideoProblem::ToolFailed)
}

fn wait_limited(child: &mut Child) -> Result<std::process::ExitStatus, VideoProblem> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if started.elapsed() > RUN_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!("ffmpeg ran past its time limit and was stopped");
                return Err(VideoProblem::ToolFailed);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(err) => return Err(failed("wait for ffmpeg", err)),
        }
    }
}

fn failed(what: &str, err: std::io::Error) -> VideoProblem {
    tracing::warn!(error = %err, "cannot {what}");
    VideoProblem::ToolFailed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_recognised_by_their_bytes() {
        assert_eq!(
            Container::detect(b"\0\0\0\x20ftypisom\0\0\x02\0"),
            Some(Container::Mp4)
        );
        assert_eq!(
            Container::detect(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"),
            Some(Container::WebM)
        );
        assert_eq!(Container::detect(b"\x1a\x45\xdf\xa3 matroska"), None);
        assert_eq!(Container::detect(b"<svg></svg>"), None);
        assert_eq!(Container::detect(b""), None);
    }

    /// With ffmpeg installed (CI installs it): frames become a clip of the right length,
    /// and preparing it keeps no metadata and gives a poster.
    #[test]
    fn encode_then_prepare() {
        let root = tempfile::tempdir().expect("work root");
        let Ok(ffmpeg) = Ffmpeg::find("ffmpeg", root.path()) else {
            assert!(
                std::env::var_os("ATELIER_REQUIRE_FFMPEG").is_none(),
                "ffmpeg is required here"
            );
            eprintln!("SKIPPED encode_then_prepare: ffmpeg is not installed");
            return;
        };
        let frames = (0..24u8).map(|i| RgbImage::from_pixel(64, 48, image::Rgb([i * 10, 80, 160])));
        let clip = ffmpeg.encode_h264(64, 48, 12, frames).expect("encoded");
        assert_eq!(Container::detect(&clip), Some(Container::Mp4));
        let prepared = ffmpeg.prepare(&clip, 50_000_000).expect("prepared");
        assert_eq!((prepared.width, prepared.height), (64, 48));
        assert!(
            (1900..=2100).contains(&prepared.duration_ms),
            "{}",
            prepared.duration_ms
        );
        assert!(prepared.poster.starts_with(&[0xFF, 0xD8]));
        assert_eq!(Container::detect(&prepared.served), Some(Container::Mp4));
        assert!(matches!(
            ffmpeg.prepare(&clip, 1000),
            Err(VideoProblem::TooLarge(_))
        ));
        assert!(matches!(
            ffmpeg.prepare(b"\0\0\0\x20ftypisom garbage", 50_000_000),
            Err(VideoProblem::Unsupported(_))
        ));
    }
}
