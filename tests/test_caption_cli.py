"""`framescribe caption` and `framescribe watch` end to end: the real command in a child
process, a real server on loopback (demo bundle, LiteRT), a real video, a real ffmpeg."""

from __future__ import annotations

import html
import json
import os
import pty
import socket
import subprocess
import sys

import pytest
import srt
import webvtt
from server_helpers import DEMO, ServeProcess, need_tool, sample_video
from test_events_schema import check_json_file, check_jsonl_file

CLI = [sys.executable, "-m", "framescribe.plugin.cli"]
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server():
    process = ServeProcess("--bundle", str(DEMO), "--runtime", "litert")
    yield process.address
    process.stop()


def framescribe(*args: str, stdin=None, input_bytes: bytes | None = None, env=None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("FRAMESCRIBE_SERVER", "FRAMESCRIBE_TOKEN")}
    return subprocess.run([*CLI, *args], stdin=stdin, input=input_bytes, capture_output=True,
                          env={**environment, **(env or {})}, timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """A failed command: non-zero exit, exactly one line on stderr, no traceback."""
    assert result.returncode != 0
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("framescribe: error: "), lines
    return lines[0]


def seconds(timestamp: str) -> float:
    hours, minutes, rest = timestamp.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def vtt_cues(text: str) -> list[tuple[float, float, str]]:
    return [(seconds(c.start), seconds(c.end), html.unescape(c.text))
            for c in webvtt.from_string(text)]


def srt_cues(text: str) -> list[tuple[float, float, str]]:
    return [(s.start.total_seconds(), s.end.total_seconds(), s.content)
            for s in srt.parse(text)]


def captions_only(cues):
    return [c for c in cues if not c[2].startswith("[gesture: ")]


@pytest.fixture(scope="module")
def vtt_from_server(server):
    result = framescribe("caption", str(sample_video()), "--server", server)
    return ok(result), result.stderr.decode()


def test_vtt_on_stdout_by_default_parses_and_is_timed_by_the_video(vtt_from_server):
    text, stderr = vtt_from_server
    cues = vtt_cues(text)
    captions = captions_only(cues)
    gestures = [c for c in cues if c[2].startswith("[gesture: ")]
    # 100 frames at 10 fps, 16 per segment: 6, the 4-frame tail joining the last one
    assert len(captions) == 6
    assert captions[0][:2] == (0.0, 1.6)  # ends where the next begins: no overlap
    assert all(a[1] == b[0] for a, b in zip(captions, captions[1:], strict=False))
    assert captions[-1][1] == pytest.approx(10.02)  # last frame (9.92 s) + a model period
    assert gestures and all(0 <= g[0] < g[1] <= 10.1 for g in gestures)
    assert [c[0] for c in cues] == sorted(c[0] for c in cues)
    # stderr is not a terminal: no progress bar, just the summary line
    assert "\r" not in stderr
    assert stderr.splitlines() == [stderr.strip()]
    assert stderr.startswith(f"framescribe: 6 captions, {len(gestures)} gesture")
    assert "from 100 frames (10.0 s of video)" in stderr and "x real time) -> stdout" in stderr


def test_srt_json_and_jsonl_from_the_extension(server, tmp_path, vtt_from_server):
    expected = vtt_cues(vtt_from_server[0])
    for name in ("out.srt", "out.json", "out.jsonl"):
        ok(framescribe("caption", str(sample_video()), "--server", server, "-o",
                       str(tmp_path / name)))
    assert srt_cues((tmp_path / "out.srt").read_text()) == expected
    # one framescribe.events document, and its events one per line (both checked against the
    # JSON Schema)
    records = check_json_file(tmp_path / "out.json", str(sample_video()))["events"]
    lines = check_jsonl_file(tmp_path / "out.jsonl")
    assert records == lines
    assert [r["kind"] for r in records].count("caption") == 6
    assert [(r["start"], r["end"]) for r in records] == [c[:2] for c in expected]
    assert {"kind", "start", "end", "label", "confidence"} <= set(
        next(r for r in records if r["kind"] == "gesture"))
    assert sorted(os.listdir(tmp_path)) == ["out.json", "out.jsonl", "out.srt"]


def test_gestures_track_goes_to_a_second_file(server, tmp_path, vtt_from_server):
    expected = vtt_cues(vtt_from_server[0])
    result = framescribe("caption", str(sample_video()), "--server", server, "-o",
                         str(tmp_path / "captions.vtt"), "--gestures-track",
                         str(tmp_path / "gestures.srt"))
    ok(result)
    assert vtt_cues((tmp_path / "captions.vtt").read_text()) == captions_only(expected)
    gestures = srt_cues((tmp_path / "gestures.srt").read_text())
    assert gestures == [c for c in expected if c[2].startswith("[gesture: ")]
    assert "gestures -> " in result.stderr.decode()


def test_ffmpeg_muxes_the_cli_output(server, tmp_path, vtt_from_server):
    subtitles = tmp_path / "bikes.vtt"
    subtitles.write_text(vtt_from_server[0])
    out = tmp_path / "out.mp4"
    subprocess.run([need_tool("ffmpeg"), "-v", "error", "-i", str(sample_video()), "-i",
                    str(subtitles), "-c", "copy", "-c:s", "mov_text", str(out)],
                   check=True, timeout=60)
    probe = subprocess.run([need_tool("ffprobe"), "-v", "error", "-show_entries",
                            "stream=codec_type,codec_name", "-of", "json", str(out)],
                           check=True, capture_output=True, text=True, timeout=60)
    streams = json.loads(probe.stdout)["streams"]
    assert {"codec_type": "subtitle", "codec_name": "mov_text"} in [
        {k: s[k] for k in ("codec_type", "codec_name")} for s in streams]


def test_raw_frames_on_stdin_from_a_real_ffmpeg(server, vtt_from_server):
    decoder = subprocess.Popen([need_tool("ffmpeg"), "-v", "error", "-i", str(sample_video()),
                                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "320x240", "-"],
                               stdout=subprocess.PIPE)
    try:
        result = framescribe("caption", "-", "--raw-size", "320x240", "--raw-fps", "25",
                             "--server", server, "--format", "srt", stdin=decoder.stdout)
    finally:
        decoder.stdout.close()
        assert decoder.wait(30) == 0
    cues = srt_cues(ok(result))
    expected = captions_only(vtt_cues(vtt_from_server[0]))
    # frame i at i/25 s: the same frames are kept, so the same caption times; the pictures
    # are squeezed to 320x240, so only the times are compared
    assert [c[:2] for c in captions_only(cues)] == [c[:2] for c in expected]
    assert "from 100 frames (10.0 s of video)" in result.stderr.decode()


def test_files_go_in_lists_capped_at_the_servers_limit(vtt_from_server, tmp_path):
    from framescribe.plugin.caption_command import FILE_FRAMES_PER_MESSAGE, _frames_per_message

    assert _frames_per_message(str(sample_video())) == FILE_FRAMES_PER_MESSAGE == 16
    assert _frames_per_message(str(tmp_path)) == 16  # an image folder
    for live in ("0", "-", "rtsp://camera.local/live", "HTTPS://example.com/v.mp4"):
        assert _frames_per_message(live) == 1
    # Lists of 16 would be INVALID_ARGUMENT here: the CLI sends lists of the server's 4.
    small = ServeProcess("--bundle", str(DEMO), "--runtime", "litert",
                         "--max-frames-per-message", "4")
    try:
        result = framescribe("caption", str(sample_video()), "--server", small.address)
    finally:
        small.stop()
    assert vtt_cues(ok(result)) == vtt_cues(vtt_from_server[0])


def test_embedded_gives_the_same_captions_as_the_server(vtt_from_server, tmp_path):
    pytest.importorskip("tensorflow")
    result = framescribe("caption", str(sample_video()), "--embedded", "--bundle", str(DEMO),
                         "-o", str(tmp_path / "embedded.vtt"), timeout=300)
    ok(result)
    embedded = vtt_cues((tmp_path / "embedded.vtt").read_text())
    served = vtt_cues(vtt_from_server[0])
    # TensorFlow here, LiteRT in the server: the same texts and times, confidences may differ
    # in the last digits
    assert captions_only(embedded) == captions_only(served)
    assert [c[:2] for c in embedded] == [c[:2] for c in served]
    assert [c[2].split()[1] for c in embedded if c[2].startswith("[gesture")] == \
        [c[2].split()[1] for c in served if c[2].startswith("[gesture")]


def test_embedded_without_the_server_extra_says_how_to_get_it(tmp_path):
    # A client-only install: TensorFlow and LiteRT cannot be imported (tests/
    # test_client_commands.py holds every model-side command to the same).
    shim = ("import sys; sys.modules['tensorflow'] = None; sys.modules['ai_edge_litert'] = None; "
            "from framescribe.plugin.cli import main; sys.exit(main(sys.argv[1:]))")
    for command in (["caption", str(sample_video()), "--embedded"],
                    ["annotate", str(sample_video())]):
        for runtime in ("tf", "litert"):
            result = subprocess.run([sys.executable, "-c", shim, *command, "--runtime", runtime],
                                    capture_output=True, timeout=60)
            assert result.returncode == 2
            line = one_error_line(result)
            assert "pip install 'framescribe[server]'" in line and "--server HOST:PORT" in line


def test_server_down_is_one_clear_line():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    line = one_error_line(framescribe("caption", str(sample_video()), "--server",
                                      f"127.0.0.1:{port}"))
    assert f"127.0.0.1:{port} is unavailable" in line and "framescribe serve" in line


def test_wrong_or_missing_token_is_one_clear_line(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    wrong_file = tmp_path / "wrong"
    wrong_file.write_text("nope\n")
    guarded = ServeProcess("--bundle", str(DEMO), "--runtime", "litert", "--token-file",
                           str(token_file), "--allow-plaintext-token")
    assert any("travels in clear text" in line for line in guarded.lines), guarded.lines
    try:
        wrong = one_error_line(framescribe("caption", str(sample_video()), "--server",
                                           guarded.address, "--token-file", str(wrong_file)))
        assert "refused the token" in wrong and "--token-file" in wrong
        one_error_line(framescribe("caption", str(sample_video()), "--server",
                                   guarded.address))
        right = framescribe("caption", str(sample_video()), "--server", guarded.address,
                            "--token-file", str(token_file), "--tasks", "gestures")
        assert vtt_cues(ok(right))
        from_env = framescribe("caption", str(sample_video()), "--server", guarded.address,
                               "--tasks", "gestures", env={"FRAMESCRIBE_TOKEN": TOKEN,
                                                           "FRAMESCRIBE_SERVER":
                                                               guarded.address})
        assert ok(from_env) == ok(right)
    finally:
        guarded.stop()
    in_argv = framescribe("caption", str(sample_video()), "--token", TOKEN)  # not a --token-file
    assert in_argv.returncode == 2 and TOKEN.encode() not in in_argv.stderr
    assert b"--token-file FILE or $FRAMESCRIBE_TOKEN" in in_argv.stderr


def test_unreadable_inputs_are_one_clear_line(server, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video\n" * 10)
    cases = {
        str(tmp_path / "missing.mp4"): "no such file",
        str(garbage): "cannot open it as a video",
        str(tmp_path): "no images in the directory",
    }
    for spec, words in cases.items():
        assert words in one_error_line(framescribe("caption", spec, "--server", server))
    no_size = one_error_line(framescribe("caption", "-", "--server", server,
                                         input_bytes=b"\0" * 30))
    assert "--raw-size" in no_size
    empty = one_error_line(framescribe("caption", "-", "--raw-size", "4x4", "--server", server,
                                       input_bytes=b""))
    assert "no frames" in empty
    wrong_size = one_error_line(framescribe("caption", "-", "--raw-size", "4x4", "--server",
                                            server, input_bytes=b"\0" * 50))
    assert "wrong raw_size" in wrong_size
    assert "cannot tell the output format" in one_error_line(framescribe(
        "caption", str(sample_video()), "--server", server, "-o", str(tmp_path / "x.txt")))
    assert "does not exist" in one_error_line(framescribe(
        "caption", str(sample_video()), "--server", server, "-o",
        str(tmp_path / "nowhere" / "x.vtt")))


def test_usage_errors_exit_2():
    both = framescribe("caption", "x.mp4", "--server", "a:1", "--embedded")
    assert both.returncode == 2 and b"not allowed with argument" in both.stderr
    assert len(both.stderr.splitlines()) == 1  # one line, naming `framescribe caption --help`
    for gone in (["--segment-seconds", "1"], ["--formats", "vtt"]):
        assert b"unrecognized arguments" in framescribe("caption", "x.mp4", *gone).stderr
    assert framescribe("caption", "x.mp4", "--tasks", "captions,faces").returncode == 2
    assert framescribe("caption", "-", "--raw-size", "320by240").returncode == 2


def run_with_terminal_stderr(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=follower,
                               env={**os.environ, "COLUMNS": "200"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    stdout = process.stdout.read().decode()
    process.wait(60)
    os.close(leader)
    return process.returncode, stdout, b"".join(chunks).decode()


def test_progress_bar_only_on_a_terminal(server):
    code, stdout, stderr = run_with_terminal_stderr(
        ["caption", str(sample_video()), "--server", server, "--format", "jsonl"])
    assert code == 0 and len(stdout.splitlines()) >= 6
    assert "\rbikes.mp4: [" in stderr and "frames sent" in stderr and "x real time" in stderr
    assert stderr.rstrip().splitlines()[-1].split("\r")[-1].replace("\x1b[K", "") \
        .startswith("framescribe: 6 captions")
    quiet = framescribe("caption", str(sample_video()), "--server", server, "-q")
    assert ok(quiet) and quiet.stderr == b""


def test_watch_prints_events_as_lines(server):
    result = framescribe("watch", str(sample_video()), "--server", server)
    lines = ok(result).splitlines()
    captions = [line for line in lines if "] caption: " in line]
    assert len(captions) == 6 and len(lines) > 6
    assert all("] caption: " in line or "] gesture: " in line for line in lines)
    assert "\r" not in result.stdout.decode()  # not a terminal: no interim line
    jsonl = framescribe("watch", str(sample_video()), "--server", server, "--jsonl",
                        "--tasks", "gestures")
    records = [json.loads(line) for line in ok(jsonl).splitlines()]
    assert records and {r["kind"] for r in records} == {"gesture"}


def test_watch_on_a_terminal_updates_the_gesture_label_in_place(server):
    leader, follower = pty.openpty()
    process = subprocess.Popen([*CLI, "watch", str(sample_video()), "--server", server,
                                "--tasks", "gestures"], stdout=follower,
                               stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert process.wait(60) == 0
    os.close(leader)
    out = b"".join(chunks).decode()
    assert out.count("now: ") >= 50  # one interim label per sampled frame, redrawn with \r
    assert "\r" in out and "] gesture: " in out
