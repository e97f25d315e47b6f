#!/usr/bin/env bash
# Build Scalpel for Linux and smoke-test it, all in one go:
#   1. a build venv with Scalpel, the starter model and PyInstaller
#   2. the one-folder app (PyInstaller, packaging/scalpel.spec)
#   3. smoke tests of the frozen app: doctor, policy check, a headless chat, the window offscreen,
#      and (as root) a machine policy in /etc/scalpel that no environment variable gets around
#   4. a per-machine .deb: /opt/scalpel, /usr/bin/scalpel, .desktop, AppStream metainfo, icons
# Output: build/linux/scalpel_<version>_<arch>.deb   (2 min 12 s here; the first run
# also compiles llama.cpp with every CPU variant and Vulkan, ~40 minutes on 2 cores, kept in
# ~/.cache/scalpel-build)
# Environment: SCALPEL_BUILD_VENV  reuse this venv instead of build/linux/venv
#              SCALPEL_WHEEL_CACHE  where the portable llama-cpp-python wheel is kept
#              SCALPEL_LLAMA_VULKAN=0  build llama.cpp without its Vulkan backend
#              SCALPEL_BUNDLE_STARTER=0  leave the 98 MB starter model out (the smoke
#              tests then need the starter elsewhere, so the build skips them)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$ROOT/build/linux"
VENV="${SCALPEL_BUILD_VENV:-$BUILD/venv}"
APP_ID="io.scalpel.Scalpel"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/desktop_app/__init__.py")"
ARCH="$(dpkg --print-architecture)"
DEB="$BUILD/scalpel_${VERSION}_${ARCH}.deb"
started=$SECONDS

step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }
fail() { echo "build.sh: $*" >&2; exit 1; }

step "build venv at $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# A llama.cpp that adapts at run time: the usual pip build is tuned to this CPU
# (-march=native) and may die with "illegal instruction" on older laptops. GGML_BACKEND_DL
# with GGML_CPU_ALL_VARIANTS builds every x86-64 CPU variant (SSE4.2 ... AVX2, AVX-512, AMX)
# as its own library and ggml loads the best one this CPU runs (Scalpel loads them from
# llama_cpp/lib: core/engine/ggml_devices.py); GGML_VULKAN adds the Vulkan backend (NVIDIA,
# AMD and Intel GPUs in one build), used when a Vulkan driver is there and skipped when not.
# Its toolchain comes from Debian (packaging/linux/vulkan_toolchain.sh); without it the
# build has the CPU variants only. SCALPEL_LLAMA_VULKAN=0 leaves Vulkan out.
# pip's wheel cache ignores CMAKE_ARGS, so the wheel is kept in a cache of its own, one
# folder per flavour.
LLAMA_PIN="$(grep -o 'llama-cpp-python==[0-9.]*' "$ROOT/pyproject.toml")"
WHEELS="${SCALPEL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scalpel-build/wheels}"
LLAMA_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
LLAMA_ARGS+=" -DCMAKE_INSTALL_BINDIR=llama_cpp/lib"  # the backend libraries beside libllama
FLAVOUR=dl-cpu
if [ "${SCALPEL_LLAMA_VULKAN:-1}" != 0 ] \
   && vulkan_include="$(bash "$ROOT/packaging/linux/vulkan_toolchain.sh")"; then
  LLAMA_ARGS+=" -DGGML_VULKAN=ON -DVulkan_INCLUDE_DIR=$vulkan_include"
  FLAVOUR=dl-vulkan
fi
wheel="$(ls "$WHEELS/$FLAVOUR"/llama_cpp_python-"${LLAMA_PIN#*==}"-*.whl 2>/dev/null | head -1 || true)"
if [ -z "$wheel" ]; then
  echo "compiling $LLAMA_PIN ($FLAVOUR: every CPU variant$([ $FLAVOUR = dl-vulkan ] && echo ' + Vulkan'); about 40 minutes on 2 cores, once)"
  CMAKE_ARGS="$LLAMA_ARGS ${CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    nice -n 10 "$VENV/bin/pip" wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$WHEELS/$FLAVOUR" "$LLAMA_PIN"
  wheel="$(ls "$WHEELS/$FLAVOUR"/llama_cpp_python-"${LLAMA_PIN#*==}"-*.whl | head -1)"
fi
echo "llama.cpp wheel: $wheel"
"$VENV/bin/pip" install -q --force-reinstall --no-deps "$wheel"
"$VENV/bin/pip" install -q -e "$ROOT[starter]" "pyinstaller==6.22.3"

step "PyInstaller one-folder app"
rm -rf "$BUILD/dist" "$BUILD/work"
(cd "$ROOT" && "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
   --distpath "$BUILD/dist" --workpath "$BUILD/work" packaging/scalpel.spec)
APP="$BUILD/dist/scalpel"
[ -x "$APP/scalpel" ] && [ -x "$APP/scalpel-gui" ] || fail "PyInstaller made no executables"

smoke_test() (  # $1: folder holding the scalpel and scalpel-gui executables (a subshell)
  bin="$1" gui=""
  home="$(mktemp -d)"
  trap '[ -z "$gui" ] || kill "$gui" 2>/dev/null; rm -rf "$home"' EXIT
  export SCALPEL_HOME="$home/home" SCALPEL_SYSTEM_CONFIG="$home/etc" QT_QPA_PLATFORM=offscreen
  "$bin/scalpel" --version
  "$bin/scalpel" doctor > "$home/doctor.txt" || fail "frozen 'scalpel doctor' failed"
  grep -q "llama.cpp features" "$home/doctor.txt" || fail "doctor cannot load llama.cpp"
  "$bin/scalpel" doctor --json | "$VENV/bin/python" -c \
    'import json,sys; r=json.load(sys.stdin); assert r["llama_cpp"]["importable"], r' \
    || fail "'scalpel doctor --json' is not valid JSON"
  # The backends are loaded from their own libraries: the CPU always, Vulkan when built.
  "$bin/scalpel" doctor --json | FLAVOUR="$FLAVOUR" "$VENV/bin/python" -c '
import json, os, sys
r = json.load(sys.stdin)
backends = r["devices"]["backends"]
assert r["llama_cpp"]["backends_loaded_from_files"] and "CPU" in backends, r["devices"]
assert os.environ["FLAVOUR"] != "dl-vulkan" or "Vulkan" in backends, backends
print("frozen llama.cpp backends:", ", ".join(backends), "| offload:", (r["offload"] or {}).get("status"))
' || fail "the frozen app's llama.cpp backends are not loaded"
  docs_smoke_test "$bin"
  "$bin/scalpel" policy check "$ROOT/packaging/policy.example.json" > /dev/null \
    || fail "the example policy does not pass 'scalpel policy check'"
  if [ "${SCALPEL_BUNDLE_STARTER:-1}" = 0 ]; then
    echo "starter model not bundled: skipping the chat and window checks"
    return
  fi
  grep -q "smollm2-135m-instruct" "$home/doctor.txt" || fail "doctor lists no starter model"
  vulkan_smoke_test "$bin"
  answer="$("$bin/scalpel" chat --temperature 0 --max-tokens 16 "Say hello.")" \
    || fail "frozen headless 'scalpel chat' failed"
  [ -n "${answer// /}" ] || fail "frozen 'scalpel chat' answered nothing"
  echo "chat answered: $answer"
  api_smoke_test "$bin"
  "$bin/scalpel-gui" & gui=$!
  waited=0
  until grep -q "loaded SmolLM2" "$SCALPEL_HOME/logs/scalpel.log" 2>/dev/null; do
    kill -0 "$gui" 2>/dev/null || fail "the frozen window exited early"
    [ $waited -lt 120 ] || fail "the frozen window loaded no model in 120 s"
    sleep 1; waited=$((waited + 1))
  done
  echo "window opened offscreen and loaded the starter model in ${waited} s"
  engine="$(sed -n 's/.*engine process started (pid \([0-9]*\)).*/\1/p' \
    "$SCALPEL_HOME/logs/scalpel.log" | tail -n 1)"
  [ -n "$engine" ] && [ "$engine" != "$gui" ] || fail "the frozen window runs no engine process"
  kill -KILL "$engine"; sleep 2  # a crashed engine must not take the window with it
  kill -0 "$gui" 2>/dev/null || fail "the frozen window died with its engine process"
  echo "the window survived its engine process ($engine) being killed"
  kill "$gui"; wait "$gui" 2>/dev/null || true; gui=""
  [ ! -s "$SCALPEL_HOME/logs/crash.log" ] || fail "the window crashed: $SCALPEL_HOME/logs/crash.log"
)

# Your documents, frozen: PDFium and python-docx (native library and templates) must be in
# the bundle. A DOCX (python-docx) and a one-page PDF (written out by hand: a Helvetica text
# stream) are indexed and found by `docs search`.
docs_smoke_test() {  # $1: folder holding the scalpel executable
  local dir="$home/documents"
  mkdir -p "$dir"
  "$VENV/bin/python" - "$dir" <<'PY' || fail "could not write the documents smoke files"
import pathlib, sys
import docx
folder = pathlib.Path(sys.argv[1])
document = docx.Document()
document.add_heading("Warranty", 1)
document.add_paragraph("The ZX-200 warranty lasts two years from purchase.")
document.save(folder / "guide.docx")
text = b"BT /F1 12 Tf 72 720 Td (Descale the ZX-200 every three months.) Tj ET"
objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
           b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> >>",
           b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
           b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
out, offsets = bytearray(b"%PDF-1.4\n"), []
for number, body in enumerate(objects, start=1):
    offsets.append(len(out))
    out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
(folder / "manual.pdf").write_bytes(bytes(out))
PY
  "$1/scalpel" docs add "$dir" --collection smoke > "$home/docs.txt" 2>&1 \
    || fail "frozen 'scalpel docs add' failed: $(tail -3 "$home/docs.txt")"
  for query in warranty descale; do
    "$1/scalpel" docs search "$query" --collection smoke --json > "$home/docs-$query.json" \
      || fail "frozen 'scalpel docs search $query' failed"
  done
  "$VENV/bin/python" - "$home" <<'PY' || fail "the frozen app did not read the DOCX and the PDF"
import json, pathlib, sys
home = pathlib.Path(sys.argv[1])
def found(query):
    data = json.loads((home / f"docs-{query}.json").read_text())
    hits = data if isinstance(data, list) else data.get("hits", data.get("results", []))
    return {pathlib.Path(hit["file"]).name for hit in hits}
assert "guide.docx" in found("warranty"), found("warranty")
assert "manual.pdf" in found("descale"), found("descale")
print("frozen documents: a DOCX and a PDF indexed and found")
PY
}

# The Vulkan path, frozen: the starter model with its layers on a Vulkan device. Without a
# GPU, Debian's lavapipe (mesa-vulkan-drivers, installed here when root) is one; ggml skips
# such CPU-type devices unless GGML_VK_VISIBLE_DEVICES names them.
vulkan_smoke_test() {  # $1: folder holding the scalpel executable
  [ "$FLAVOUR" = dl-vulkan ] || { echo "llama.cpp built without Vulkan: no GPU check"; return; }
  if ! dpkg -s mesa-vulkan-drivers > /dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mesa-vulkan-drivers > /dev/null || true
  fi
  dpkg -s mesa-vulkan-drivers > /dev/null 2>&1 \
    || { echo "no Vulkan driver (mesa-vulkan-drivers): skipping the Vulkan check"; return; }
  GGML_VK_VISIBLE_DEVICES=0 "$1/scalpel" chat --no-save --temperature 0 --max-tokens 8 \
    "Say hello." > "$home/vulkan-chat.txt" 2>&1 || fail "frozen chat on Vulkan failed: $(tail -3 "$home/vulkan-chat.txt")"
  grep -q "GPU (Vulkan, llvmpipe): 30/30 layers\|GPU (Vulkan, [^)]*): 30/30 layers" \
    "$SCALPEL_HOME/logs/scalpel.log" || fail "the frozen app did not put the layers on Vulkan"
  echo "frozen chat on Vulkan: $(grep -o 'GPU (Vulkan, [^)]*): [0-9/]* layers' \
    "$SCALPEL_HOME/logs/scalpel.log" | tail -1): $(tail -1 "$home/vulkan-chat.txt")"
}

# The machine's policy holds against what a user can set: the frozen app sees only the real
# /etc/scalpel (its location is code, not environment), so this step writes a policy there
# that allows no model, tries the environment bypasses, and removes it again. It needs root
# (CI, a build container); a machine that already has a policy is left untouched.
api_smoke_test() {  # $1: folder holding the scalpel executable
  "$1/scalpel" serve --port 18731 > "$home/serve.log" 2>&1 & serve=$!
  "$VENV/bin/python" - "$1" "$home/serve.log" <<'PY' || { kill "$serve"; fail "frozen 'scalpel serve' did not answer (see $home/serve.log)"; }
import json, re, subprocess, sys, time, urllib.request
bin_dir, log = sys.argv[1], sys.argv[2]
token = subprocess.run([f"{bin_dir}/scalpel", "serve", "--show-token"], capture_output=True,
                       text=True, check=True).stdout.strip()
for _ in range(120):
    found = re.search(r"API at (http://[0-9.:]+)", open(log).read())
    if found:
        break
    time.sleep(1)
else:
    sys.exit("the API never said where it listens")
request = urllib.request.Request(
    found.group(1) + "/v1/chat/completions", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    data=json.dumps({"model": "smollm2-135m-instruct", "max_tokens": 8,
                     "messages": [{"role": "user", "content": "Say hi."}]}).encode())
reply = json.load(urllib.request.urlopen(request, timeout=120))
print("API answered:", reply["choices"][0]["message"]["content"])
PY
  kill "$serve"; wait "$serve" 2>/dev/null || true
}

policy_smoke_test() (  # $1: folder holding the scalpel executable (a subshell)
  bin="$1" machine=/etc/scalpel
  if [ "$(id -u)" != 0 ]; then
    echo "not root: skipping the machine-policy check (it writes $machine/policy.json)"
    return
  fi
  if [ -e "$machine/policy.json" ]; then
    echo "$machine/policy.json exists: skipping the machine-policy check (it is not replaced)"
    return
  fi
  home="$(mktemp -d)" made_dir=""
  [ -d "$machine" ] || { mkdir -p "$machine"; made_dir=1; }
  trap 'rm -f "$machine/policy.json"; [ -z "$made_dir" ] || rmdir "$machine"; rm -rf "$home"' EXIT
  printf '{"allowed_models": ["sha256:%064d"], "downloads_allowed": false}\n' 0 \
    > "$machine/policy.json"
  mkdir -p "$home/empty"; echo '{}' > "$home/empty/open.json"
  unset SCALPEL_SYSTEM_CONFIG SCALPEL_POLICY
  for forged in "SCALPEL_HOME=$home/elsewhere" "SCALPEL_SYSTEM_CONFIG=$home/empty" \
                "SCALPEL_POLICY=$home/empty/open.json"; do
    if out="$(env SCALPEL_HOME="$home/home" "$forged" "$bin/scalpel" chat --no-save \
                --model smollm2-135m-instruct --max-tokens 4 "Say hello." 2>&1)"; then
      fail "with $forged, the frozen app loaded a model the machine policy forbids"
    fi
    grep -q "organization's list of allowed models" <<< "$out" \
      || fail "with $forged, the refusal does not name the policy: $out"
    out="$(env SCALPEL_HOME="$home/home" "$forged" "$bin/scalpel" policy show --json)"
    grep -q "\"file\": \"$machine/policy.json\"" <<< "$out" \
      || fail "with $forged, 'scalpel policy show' does not show $machine/policy.json"
    echo "refused with $forged"
  done
)

step "smoke test of the frozen app"
smoke_test "$APP"
[ "${SCALPEL_BUNDLE_STARTER:-1}" = 0 ] || policy_smoke_test "$APP"

step "Debian package"
ROOTFS="$BUILD/deb"
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS/DEBIAN" "$ROOTFS/opt" "$ROOTFS/usr/bin" "$ROOTFS/usr/share/applications" \
         "$ROOTFS/usr/share/metainfo" "$ROOTFS/usr/share/icons/hicolor/scalable/apps" \
         "$ROOTFS/usr/share/doc/scalpel"
cp -a "$APP" "$ROOTFS/opt/scalpel"
ln -s /opt/scalpel/scalpel "$ROOTFS/usr/bin/scalpel"
cp "$ROOT/packaging/linux/$APP_ID.desktop" "$ROOTFS/usr/share/applications/"
sed -e "s/@VERSION@/$VERSION/" -e "s/@DATE@/$(date -u +%Y-%m-%d)/" \
    "$ROOT/packaging/linux/$APP_ID.metainfo.xml" > "$ROOTFS/usr/share/metainfo/$APP_ID.metainfo.xml"
cp "$ROOT/resources/icons/scalpel.svg" "$ROOTFS/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
QT_QPA_PLATFORM=offscreen "$VENV/bin/python" "$ROOT/packaging/linux/render_icons.py" \
    "$ROOT/resources/icons/scalpel.svg" "$ROOTFS/usr/share/icons/hicolor" "$APP_ID"
cp "$ROOT/packaging/policy.example.json" "$ROOTFS/usr/share/doc/scalpel/"
cp "$ROOT/packaging/linux/copyright" "$ROOTFS/usr/share/doc/scalpel/copyright"
installed_kb="$(du -sk --exclude=DEBIAN "$ROOTFS" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$installed_kb/" \
    "$ROOT/packaging/linux/control" > "$ROOTFS/DEBIAN/control"
find "$ROOTFS" -type d -exec chmod 0755 {} +

if command -v appstreamcli > /dev/null; then
  appstreamcli validate --no-net --pedantic "$ROOTFS/usr/share/metainfo/$APP_ID.metainfo.xml" \
    || fail "AppStream metainfo does not validate"
fi
if command -v desktop-file-validate > /dev/null; then
  desktop-file-validate "$ROOTFS/usr/share/applications/$APP_ID.desktop" \
    || fail ".desktop file does not validate"
fi
dpkg-deb --root-owner-group -Zzstd --build "$ROOTFS" "$DEB" > /dev/null
dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'

step "done"
echo "$DEB ($(du -h "$DEB" | cut -f1), installs $((installed_kb / 1024)) MB)"
echo "install: sudo apt install $DEB    silent: sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $DEB"
