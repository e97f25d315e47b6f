#Requires -Version 5.1
<#
.SYNOPSIS
    Builds Scalpel for Windows: PyInstaller one-folder app, smoke test, optional
    Authenticode signing, Inno Setup installer.

.DESCRIPTION
    Run from any folder:  powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
    Output:  dist\scalpel\ (scalpel.exe, scalpel-gui.exe, _internal\)
             dist\ScalpelSetup-<version>.exe

    Needs: Python 3.11 x64, Visual Studio 2022 Build Tools (C++ workload; llama-cpp-python
    compiles llama.cpp from source), ImageMagick 7 (magick.exe), Inno Setup 6.3+,
    and for signing the Windows SDK's signtool.exe.

    Environment (all optional):
      SCALPEL_PYTHON         python.exe for the build venv (default: py -3.11)
      SCALPEL_SIGN_CERT      SHA-1 thumbprint of the code-signing certificate in
                             Cert:\CurrentUser\My or Cert:\LocalMachine\My; unset = no signing
      SCALPEL_TIMESTAMP_URL  RFC 3161 timestamp server (default http://timestamp.digicert.com)
      SIGNTOOL, ISCC, MAGICK full paths when not found on PATH or in the usual folders
      CMAKE_ARGS             llama.cpp build options (default -DGGML_NATIVE=OFF: portable
                             AVX2 build instead of one tuned to the build machine's CPU)
#>
[CmdletBinding()]
param()

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$Root = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
$Venv = Join-Path $Root 'build\venv-windows'
$VenvPy = Join-Path $Venv 'Scripts\python.exe'
$Dist = Join-Path $Root 'dist\scalpel'
$Cli = Join-Path $Dist 'scalpel.exe'
$Gui = Join-Path $Dist 'scalpel-gui.exe'
$IconDir = Join-Path $Root 'packaging\icons'
$Iss = Join-Path $PSScriptRoot 'scalpel.iss'

function Assert-ExitCode([string]$What) {
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit code $LASTEXITCODE)" }
}

function Find-Tool([string]$EnvName, [string]$Command, [string[]]$Candidates) {
    $fromEnv = [Environment]::GetEnvironmentVariable($EnvName)
    if ($fromEnv) {
        if (-not (Test-Path -LiteralPath $fromEnv)) { throw "$EnvName points to a missing file: $fromEnv" }
        return $fromEnv
    }
    $onPath = Get-Command $Command -CommandType Application -ErrorAction SilentlyContinue |
        Select-Object -First 1
    if ($onPath) { return $onPath.Source }
    foreach ($candidate in $Candidates) {
        if ($candidate -and (Test-Path -LiteralPath $candidate)) { return $candidate }
    }
    throw "$Command not found: install it or set `$env:$EnvName to its full path"
}

function Find-SignTool {
    $kits = Join-Path ${env:ProgramFiles(x86)} 'Windows Kits\10\bin'
    $newest = @()
    if (Test-Path -LiteralPath $kits) {
        $newest = @(Get-ChildItem -Path $kits -Directory -Filter '10.*' |
            Sort-Object { [version]$_.Name } -Descending |
            ForEach-Object { Join-Path $_.FullName 'x64\signtool.exe' })
    }
    return Find-Tool 'SIGNTOOL' 'signtool.exe' $newest
}

# Every smoke test runs with a throw-away profile: no user settings, no machine
# policy of the build machine, no window system (Qt offscreen).
function Invoke-Smoke([string]$Label, [string[]]$Arguments, [switch]$Capture) {
    Write-Host "== smoke ($Label): scalpel.exe $($Arguments -join ' ')"
    if ($Capture) {
        $out = & $Cli @Arguments
        Assert-ExitCode "scalpel.exe $($Arguments[0])"
        return ($out -join "`n")
    }
    & $Cli @Arguments
    Assert-ExitCode "scalpel.exe $($Arguments[0])"
}

function Invoke-SmokeTests([string]$Label) {
    $saved = @{}
    foreach ($name in 'QT_QPA_PLATFORM', 'SCALPEL_HOME', 'SCALPEL_POLICY', 'SCALPEL_SYSTEM_CONFIG') {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
    }
    $smokeHome = Join-Path ([IO.Path]::GetTempPath()) ("scalpel-smoke-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $smokeHome | Out-Null
    try {
        $env:QT_QPA_PLATFORM = 'offscreen'
        $env:SCALPEL_HOME = $smokeHome
        Remove-Item Env:SCALPEL_POLICY, Env:SCALPEL_SYSTEM_CONFIG -ErrorAction SilentlyContinue

        Invoke-Smoke $Label @('doctor')
        Invoke-Smoke $Label @('policy', 'show')
        $reply = Invoke-Smoke $Label @('chat', '--model', 'smollm2-135m-instruct', '--max-tokens', '8',
                                       '--temperature', '0', 'Say hi') -Capture
        if (-not $reply.Trim()) { throw 'scalpel.exe chat printed no reply' }
        Write-Host "chat reply: $reply"
    } finally {
        foreach ($name in $saved.Keys) {
            [Environment]::SetEnvironmentVariable($name, $saved[$name])
        }
        Remove-Item -LiteralPath $smokeHome -Recurse -Force -ErrorAction SilentlyContinue
    }
}

# llama.cpp DLLs are loaded with ctypes, so nothing links them to the OpenMP runtime
# except their import table: when they import VCOMP140.DLL it must be in the bundle,
# in _internal\ (the bootloader's DLL directory) or beside them in _internal\llama_cpp\lib\.
# A clean PC has no Visual C++ OpenMP runtime; this build machine does, so the smoke
# test alone would not notice.
function Assert-OpenMPBundled {
    $internal = Join-Path $Dist '_internal'
    $lib = Join-Path $internal 'llama_cpp\lib'
    if (-not (Test-Path -LiteralPath $lib)) { throw "missing $lib (the spec must collect llama_cpp\lib)" }
    $needsOpenMP = $false
    foreach ($dll in Get-ChildItem -LiteralPath $lib -Filter '*.dll') {
        $text = [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($dll.FullName))
        if ($text -match '(?i)vcomp140\.dll') { $needsOpenMP = $true; break }
    }
    $bundled = (Test-Path -LiteralPath (Join-Path $internal 'vcomp140.dll')) -or
               (Test-Path -LiteralPath (Join-Path $lib 'vcomp140.dll'))
    if ($needsOpenMP -and -not $bundled) {
        throw 'llama.cpp imports vcomp140.dll but it is neither in _internal\ nor in _internal\llama_cpp\lib\'
    }
}

$savedCmakeArgs = $env:CMAKE_ARGS
$savedQpa = $env:QT_QPA_PLATFORM
Push-Location $Root
try {
    # --- Version -------------------------------------------------------------
    $match = Select-String -LiteralPath (Join-Path $Root 'desktop_app\__init__.py') `
        -Pattern '^__version__\s*=\s*"([^"]+)"' | Select-Object -First 1
    if (-not $match) { throw 'cannot read __version__ from desktop_app\__init__.py' }
    $Version = $match.Matches[0].Groups[1].Value
    $NumericVersion = [regex]::Match($Version, '^\d+(\.\d+){0,3}').Value
    if (-not $NumericVersion) { throw "version '$Version' does not start with a number" }
    Write-Host "== Scalpel $Version"

    # --- Tools (fail before the long build, not after) -------------------------
    $Magick = Find-Tool 'MAGICK' 'magick.exe' @(
        (Get-ChildItem -Path (Join-Path $env:ProgramFiles 'ImageMagick-7*\magick.exe') -ErrorAction SilentlyContinue |
            Select-Object -First 1 -ExpandProperty FullName))
    $Iscc = Find-Tool 'ISCC' 'ISCC.exe' @(
        (Join-Path ${env:ProgramFiles(x86)} 'Inno Setup 6\ISCC.exe'),
        (Join-Path $env:ProgramFiles 'Inno Setup 6\ISCC.exe'),
        (Join-Path $env:LOCALAPPDATA 'Programs\Inno Setup 6\ISCC.exe'))
    $Thumbprint = ''
    $StoreArgs = @()
    if ($env:SCALPEL_SIGN_CERT) {
        $SignTool = Find-SignTool
        $Thumbprint = ($env:SCALPEL_SIGN_CERT -replace '\s', '').ToUpperInvariant()
        if (Test-Path -LiteralPath "Cert:\CurrentUser\My\$Thumbprint") {
            $StoreArgs = @()
        } elseif (Test-Path -LiteralPath "Cert:\LocalMachine\My\$Thumbprint") {
            $StoreArgs = @('/sm')
        } else {
            throw "certificate $Thumbprint not found in Cert:\CurrentUser\My or Cert:\LocalMachine\My"
        }
        $TimestampUrl = if ($env:SCALPEL_TIMESTAMP_URL) { $env:SCALPEL_TIMESTAMP_URL } else { 'http://timestamp.digicert.com' }
        $SignArgs = @('sign') + $StoreArgs + @('/sha1', $Thumbprint, '/fd', 'sha256',
                                              '/tr', $TimestampUrl, '/td', 'sha256', '/d', 'Scalpel')
    } else {
        Write-Warning 'SCALPEL_SIGN_CERT is not set: building UNSIGNED (SmartScreen and Smart App Control will warn or block)'
    }

    # --- Virtual environment ---------------------------------------------------
    if ($env:SCALPEL_PYTHON) {
        & $env:SCALPEL_PYTHON -m venv --clear $Venv
    } else {
        & py '-3.11' -m venv --clear $Venv  # quoted: PowerShell would read -3.11 as a number
    }
    Assert-ExitCode 'creating the venv'
    & $VenvPy -c "import sys, struct; assert sys.version_info[:2] == (3, 11) and struct.calcsize('P') == 8, sys.version"
    Assert-ExitCode 'Python 3.11 x64 check'
    & $VenvPy -m pip install --upgrade pip
    Assert-ExitCode 'pip upgrade'

    # Portable llama.cpp: without GGML_NATIVE=OFF it is tuned to this CPU and may crash
    # (illegal instruction) on others. --no-cache-dir: a llama-cpp-python wheel built
    # earlier with other CMAKE_ARGS must not be reused from pip's cache.
    if (-not $env:CMAKE_ARGS) { $env:CMAKE_ARGS = '-DGGML_NATIVE=OFF' }
    Write-Host "== CMAKE_ARGS=$env:CMAKE_ARGS"
    & $VenvPy -m pip install --no-cache-dir -e '.[starter]' 'pyinstaller>=6.0,<7'
    Assert-ExitCode 'pip install'

    # --- Icon: SVG -> PNGs (Qt's SVG renderer from the venv) -> .ico -------------
    New-Item -ItemType Directory -Force -Path $IconDir | Out-Null
    $pngDir = Join-Path $Root 'build\icon-windows'
    New-Item -ItemType Directory -Force -Path $pngDir | Out-Null
    $render = Join-Path $pngDir 'render_icon.py'
    Set-Content -LiteralPath $render -Encoding ASCII -Value @'
import sys
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

app = QGuiApplication(sys.argv[:1])
svg, out_dir, *sizes = sys.argv[1:]
renderer = QSvgRenderer(svg)
if not renderer.isValid():
    sys.exit(f"cannot read {svg}")
for size in map(int, sizes):
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(f"{out_dir}/icon_{size}.png"):
        sys.exit(f"cannot write {out_dir}/icon_{size}.png")
'@
    $sizes = @(16, 24, 32, 48, 64, 128, 256)
    $env:QT_QPA_PLATFORM = 'offscreen'
    & $VenvPy $render (Join-Path $Root 'resources\icons\scalpel.svg') $pngDir @($sizes | ForEach-Object { "$_" })
    Assert-ExitCode 'rendering the icon'
    $env:QT_QPA_PLATFORM = $savedQpa
    $pngs = @($sizes | ForEach-Object { Join-Path $pngDir "icon_$_.png" })
    & $Magick @pngs (Join-Path $IconDir 'scalpel.ico')
    Assert-ExitCode 'magick (scalpel.ico)'

    # --- PyInstaller -----------------------------------------------------------
    & $VenvPy -m PyInstaller --noconfirm --clean (Join-Path $Root 'packaging\scalpel.spec')
    Assert-ExitCode 'pyinstaller'
    foreach ($path in $Cli, $Gui, (Join-Path $Dist '_internal')) {
        if (-not (Test-Path -LiteralPath $path)) { throw "PyInstaller output is missing $path" }
    }
    Assert-OpenMPBundled

    # --- Smoke test ------------------------------------------------------------
    Invoke-SmokeTests 'unsigned'

    # --- Sign the app's own files ----------------------------------------------
    if ($Thumbprint) {
        # Both executables, plus every DLL/extension module nobody signed (llama.cpp's,
        # most .pyd): WDAC/AppLocker rules and Smart App Control judge each file.
        $unsigned = @(Get-ChildItem -LiteralPath (Join-Path $Dist '_internal') -Recurse -File -Include '*.dll', '*.pyd' |
            Where-Object { (Get-AuthenticodeSignature -LiteralPath $_.FullName).Status -eq 'NotSigned' } |
            ForEach-Object { $_.FullName })
        $toSign = @($Cli, $Gui) + $unsigned
        Write-Host "== signing $($toSign.Count) files"
        for ($i = 0; $i -lt $toSign.Count; $i += 50) {
            $batch = @($toSign[$i..([Math]::Min($i + 49, $toSign.Count - 1))])
            & $SignTool @SignArgs @batch
            Assert-ExitCode 'signtool sign'
        }
        & $SignTool verify /pa /q $Cli $Gui
        Assert-ExitCode 'signtool verify (executables)'
        Invoke-SmokeTests 'signed'
    }

    # --- Installer -------------------------------------------------------------
    $isccArgs = @("/DAppVersion=$Version", "/DAppVersionNumeric=$NumericVersion")
    if ($Thumbprint) {
        # ISCC signs Setup and unins000.exe itself; $q and $f are ISCC's (single quotes:
        # not PowerShell variables). The whole /S value is one argument.
        $store = if ($StoreArgs.Count) { '/sm ' } else { '' }
        $isccArgs += '/DSign'
        $isccArgs += ('/Sscalpelsign=$q' + $SignTool + '$q sign ' + $store + '/sha1 ' + $Thumbprint +
                      ' /fd sha256 /tr ' + $TimestampUrl + ' /td sha256 /d $qScalpel$q $f')
    }
    & $Iscc @isccArgs $Iss
    Assert-ExitCode 'ISCC'
    $Setup = Join-Path $Root "dist\ScalpelSetup-$Version.exe"
    if (-not (Test-Path -LiteralPath $Setup)) { throw "ISCC did not produce $Setup" }
    if ($Thumbprint) {
        & $SignTool verify /pa /q $Setup
        Assert-ExitCode 'signtool verify (setup)'
    }

    $hash = (Get-FileHash -LiteralPath $Setup -Algorithm SHA256).Hash
    Write-Host "== done: $Setup"
    Write-Host "   SHA-256 $hash"
} finally {
    $env:CMAKE_ARGS = $savedCmakeArgs
    $env:QT_QPA_PLATFORM = $savedQpa
    Pop-Location
}
