#!/usr/bin/env bash
# Builds Scalpel for macOS: PyInstaller .app, smoke test, Developer ID signing with the
# hardened runtime, notarization and stapling, a .dmg (drag to Applications) and a
# per-machine .pkg (MDM: Jamf, Intune).
#
#   packaging/macos/build.sh
#
# Output (version from desktop_app/__init__.py):
#   dist/Scalpel.app  dist/Scalpel-<ver>.dmg  dist/Scalpel-<ver>.pkg
#
# Environment (all optional; without the first three the build is unsigned, for testing only):
#   SCALPEL_SIGN_IDENTITY       "Developer ID Application: Org (TEAMID)": app and dmg
#   SCALPEL_INSTALLER_IDENTITY  "Developer ID Installer: Org (TEAMID)": pkg (productsign)
#   SCALPEL_NOTARY_PROFILE      keychain profile from `xcrun notarytool store-credentials`;
#                               needs both identities
#   SCALPEL_PYTHON              Python 3.11 for the build venv (default: python3.11)
#   CMAKE_ARGS                  llama.cpp build options (default -DGGML_NATIVE=OFF)
#   MACOSX_DEPLOYMENT_TARGET    oldest macOS supported (default 12.0)
#
# Assumption about the spec's output: both executables sit in Contents/MacOS/ of the
# bundle, scalpel-gui (CFBundleExecutable, the GUI) and scalpel (the console CLI), and
# share Contents/Frameworks and Contents/Resources. The smoke test runs
# dist/Scalpel.app/Contents/MacOS/scalpel.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

BUNDLE_ID="io.scalpel.Scalpel"
ENTITLEMENTS="$ROOT/packaging/macos/entitlements.plist"
VENV="$ROOT/build/venv-macos"
PY="$VENV/bin/python"
APP="$ROOT/dist/Scalpel.app"
CLI="$APP/Contents/MacOS/scalpel"
WORK="$ROOT/build/macos"

die() { echo "build.sh: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(uname -s)" = Darwin ] || die "run this on macOS"

VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' desktop_app/__init__.py)"
[ -n "$VERSION" ] || die "cannot read __version__ from desktop_app/__init__.py"
DMG="$ROOT/dist/Scalpel-$VERSION.dmg"
PKG="$ROOT/dist/Scalpel-$VERSION.pkg"
step "Scalpel $VERSION"

SIGN_ID="${SCALPEL_SIGN_IDENTITY:-}"
INSTALLER_ID="${SCALPEL_INSTALLER_IDENTITY:-}"
NOTARY="${SCALPEL_NOTARY_PROFILE:-}"
if [ -n "$NOTARY" ] && { [ -z "$SIGN_ID" ] || [ -z "$INSTALLER_ID" ]; }; then
    die "SCALPEL_NOTARY_PROFILE needs SCALPEL_SIGN_IDENTITY and SCALPEL_INSTALLER_IDENTITY"
fi
for tool in xcrun codesign hdiutil pkgbuild productsign iconutil ditto lipo /usr/libexec/PlistBuddy; do
    command -v "$tool" >/dev/null || die "$tool not found (install the Xcode command line tools)"
done
if [ -n "$SIGN_ID" ]; then
    identities="$(security find-identity -v -p codesigning)"
    grep -qF -- "$SIGN_ID" <<<"$identities" || die "signing identity not in the keychain: $SIGN_ID"
else
    echo "warning: SCALPEL_SIGN_IDENTITY not set: unsigned build, Gatekeeper will block it elsewhere" >&2
fi
rm -rf "$WORK"
mkdir -p "$WORK" "$ROOT/packaging/icons"

# --- Virtual environment ---------------------------------------------------------
# GGML_NATIVE=OFF: without it llama.cpp is tuned to this Mac's CPU and may die with an
# illegal instruction on older ones. Metal stays on (llama.cpp's default on Apple
# silicon, shaders embedded). --no-cache-dir: never reuse a llama-cpp-python wheel that
# pip cached from a build with other CMAKE_ARGS.
step "venv"
"${SCALPEL_PYTHON:-python3.11}" -m venv --clear "$VENV"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'
"$PY" -m pip install --upgrade pip
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"
step "CMAKE_ARGS=$CMAKE_ARGS MACOSX_DEPLOYMENT_TARGET=$MACOSX_DEPLOYMENT_TARGET"
"$PY" -m pip install --no-cache-dir -e ".[starter]" "pyinstaller>=6.0,<7"

# --- Icon: SVG -> iconset PNGs -> .icns -------------------------------------------
# rsvg-convert (brew install librsvg) when present, else Qt's SVG renderer from the
# venv (qlmanage/sips rasterize SVG poorly and without transparency).
step "icon"
ICONSET="$WORK/scalpel.iconset"
mkdir -p "$ICONSET"
render_png() {  # size output.png
    if command -v rsvg-convert >/dev/null; then
        rsvg-convert -w "$1" -h "$1" -o "$2" resources/icons/scalpel.svg
    else
        QT_QPA_PLATFORM=offscreen "$PY" - "$1" "$2" resources/icons/scalpel.svg <<'EOF'
import sys
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

app = QGuiApplication(sys.argv[:1])
size, out, svg = int(sys.argv[1]), sys.argv[2], sys.argv[3]
renderer = QSvgRenderer(svg)
if not renderer.isValid():
    sys.exit(f"cannot read {svg}")
image = QImage(size, size, QImage.Format.Format_ARGB32)
image.fill(Qt.GlobalColor.transparent)
painter = QPainter(image)
painter.setRenderHint(QPainter.RenderHint.Antialiasing)
renderer.render(painter)
painter.end()
if not image.save(out):
    sys.exit(f"cannot write {out}")
EOF
    fi
}
for size in 16 32 128 256 512; do
    render_png "$size" "$ICONSET/icon_${size}x${size}.png"
    render_png "$((size * 2))" "$ICONSET/icon_${size}x${size}@2x.png"
done
iconutil -c icns "$ICONSET" -o "$ROOT/packaging/icons/scalpel.icns"

# --- PyInstaller -------------------------------------------------------------------
step "pyinstaller"
# PyInstaller only ad-hoc signs (arm64 needs a signature to run); the real signing is done
# below, inside out. Hidden from the spec so it does not also sign (with --deep) itself.
env -u SCALPEL_SIGN_IDENTITY "$PY" -m PyInstaller --noconfirm --clean packaging/scalpel.spec
for path in "$APP/Contents/MacOS/scalpel-gui" "$CLI" "$APP/Contents/Info.plist"; do
    [ -e "$path" ] || die "PyInstaller output is missing $path"
done
plist() { /usr/libexec/PlistBuddy -c "Print :$1" "$APP/Contents/Info.plist" 2>/dev/null || true; }
[ "$(plist CFBundleIdentifier)" = "$BUNDLE_ID" ] || die "CFBundleIdentifier is not $BUNDLE_ID"
[ "$(plist CFBundleExecutable)" = "scalpel-gui" ] || die "CFBundleExecutable is not scalpel-gui"
[ "$(plist CFBundleShortVersionString)" = "$VERSION" ] || die "CFBundleShortVersionString is not $VERSION"
[ "$(plist LSBackgroundOnly)" != "true" ] || die "LSBackgroundOnly is true: no Dock icon, no menu bar"
step "architectures: $(lipo -archs "$CLI")"

# --- Smoke test (throw-away profile, no machine policy, no window system) ---------
smoke() {  # label
    local home reply
    home="$(mktemp -d)"
    step "smoke ($1)"
    run_cli() {
        env -u SCALPEL_POLICY -u SCALPEL_SYSTEM_CONFIG SCALPEL_HOME="$home" \
            QT_QPA_PLATFORM=offscreen "$CLI" "$@"
    }
    run_cli doctor
    run_cli policy show
    reply="$(run_cli chat --model smollm2-135m-instruct --max-tokens 8 --temperature 0 "Say hi")"
    [ -n "${reply//[[:space:]]/}" ] || die "scalpel chat printed no reply"
    echo "chat reply: $reply"
    rm -rf "$home"
}
smoke unsigned

# --- Code signing ------------------------------------------------------------------
# Inside out, each Mach-O on its own, then each nested bundle, then the app. Not
# `codesign --deep`: it only finds code in the standard nested-code folders (PyInstaller
# also puts Mach-O files elsewhere), and it would stamp the same entitlements and options
# on every dylib. Entitlements go on executables only (Contents/MacOS/* and, through the
# bundle, the main one); dylibs and .so modules are signed without.
sign() {  # path [codesign options...]
    local path="$1"; shift
    codesign --force --timestamp --options runtime "$@" --sign "$SIGN_ID" "$path"
}

if [ -n "$SIGN_ID" ]; then
    step "codesign"
    xattr -cr "$APP"   # Finder info / quarantine attributes make codesign fail
    count=0
    while IFS= read -r file; do
        info="$(file -b "$file")"
        case "$info" in
            *Mach-O*executable*) sign "$file" --entitlements "$ENTITLEMENTS" ;;
            *Mach-O*) sign "$file" ;;
            *) continue ;;
        esac
        count=$((count + 1))
    done < <(find "$APP/Contents" -type f ! -path "$APP/Contents/MacOS/scalpel-gui")
    step "signed $count Mach-O files"
    # Nested bundles (Qt's .framework folders, any helper .app), deepest first. Code
    # bundles live under Contents/Frameworks; Resources holds data only.
    while IFS= read -r bundle; do
        sign "$bundle"
    done < <(find "$APP/Contents/Frameworks" -type d \( -name '*.framework' -o -name '*.app' \) \
                 | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2-)
    sign "$APP" --entitlements "$ENTITLEMENTS"
    codesign --verify --deep --strict --verbose=2 "$APP"
    codesign --display --entitlements - "$APP"
    smoke signed   # the hardened runtime is in force now: catches a missing entitlement
fi

# --- Notarization ------------------------------------------------------------------
# notarytool exits 0 even when Apple rejects the upload: read the status it reports.
notarize() {  # file
    local result status id
    result="$WORK/notary-$(basename "$1").json"
    step "notarize $(basename "$1")"
    xcrun notarytool submit "$1" --keychain-profile "$NOTARY" --wait --output-format json >"$result"
    status="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("status", ""))' "$result")"
    id="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("id", ""))' "$result")"
    if [ "$status" != "Accepted" ]; then
        [ -z "$id" ] || xcrun notarytool log "$id" --keychain-profile "$NOTARY" >&2 || true
        die "notarization of $1: ${status:-no status} (submission ${id:-unknown})"
    fi
}

staple() {  # file
    xcrun stapler staple "$1"
    xcrun stapler validate "$1"
}

if [ -n "$NOTARY" ]; then
    # The app gets its own ticket stapled, so Gatekeeper accepts it on offline Macs too
    # (and inside the dmg and the pkg, which are built from the stapled app).
    ditto -c -k --sequesterRsrc --keepParent "$APP" "$WORK/Scalpel.zip"
    notarize "$WORK/Scalpel.zip"
    staple "$APP"
fi

# --- Disk image (drag to Applications) ---------------------------------------------
step "dmg"
mkdir -p "$WORK/dmg"
ditto "$APP" "$WORK/dmg/Scalpel.app"
ln -s /Applications "$WORK/dmg/Applications"
hdiutil create -volname Scalpel -srcfolder "$WORK/dmg" -ov -format UDZO "$DMG"
if [ -n "$SIGN_ID" ]; then
    codesign --force --timestamp --sign "$SIGN_ID" "$DMG"
    codesign --verify --verbose=2 "$DMG"
fi
if [ -n "$NOTARY" ]; then
    notarize "$DMG"
    staple "$DMG"
fi

# --- Installer package (per machine, /Applications; for MDM) -----------------------
# BundleIsRelocatable=false: otherwise Installer "upgrades" a copy of Scalpel.app found
# anywhere else on the disk (a user's Downloads) instead of installing to /Applications.
step "pkg"
mkdir -p "$WORK/pkgroot"
ditto "$APP" "$WORK/pkgroot/Scalpel.app"
pkgbuild --analyze --root "$WORK/pkgroot" "$WORK/component.plist"
"$PY" - "$WORK/component.plist" <<'EOF'
import plistlib, sys
path = sys.argv[1]
with open(path, "rb") as f:
    bundles = plistlib.load(f)
for bundle in bundles:
    bundle["BundleIsRelocatable"] = False
with open(path, "wb") as f:
    plistlib.dump(bundles, f)
EOF
pkgbuild --root "$WORK/pkgroot" --component-plist "$WORK/component.plist" \
    --identifier "$BUNDLE_ID" --version "$VERSION" --install-location /Applications \
    "$WORK/Scalpel-unsigned.pkg"
if [ -n "$INSTALLER_ID" ]; then
    productsign --timestamp --sign "$INSTALLER_ID" "$WORK/Scalpel-unsigned.pkg" "$PKG"
    pkgutil --check-signature "$PKG"
else
    cp "$WORK/Scalpel-unsigned.pkg" "$PKG"
    echo "warning: SCALPEL_INSTALLER_IDENTITY not set: $PKG is unsigned" >&2
fi
if [ -n "$NOTARY" ]; then
    notarize "$PKG"
    staple "$PKG"
fi

# --- Gatekeeper's verdict ---------------------------------------------------------
if [ -n "$NOTARY" ]; then
    step "gatekeeper"
    spctl -a -vv -t exec "$APP"
    spctl -a -vv -t open --context context:primary-signature "$DMG"
    spctl -a -vv -t install "$PKG"
fi

step "done"
shasum -a 256 "$DMG" "$PKG"
