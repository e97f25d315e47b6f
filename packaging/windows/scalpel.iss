; Scalpel - Inno Setup 6 script: one per-machine (all users) installer for the
; PyInstaller one-folder build in dist\scalpel (scalpel.exe + scalpel-gui.exe +
; _internal\).
;
; Compile (build.ps1 does this after building and testing dist\scalpel):
;   ISCC.exe /DAppVersion=0.1.0 packaging\windows\scalpel.iss
; Output: dist\ScalpelSetup-<version>.exe
;
; What the installer writes, and nothing else:
;   {autopf}\Scalpel (C:\Program Files\Scalpel)    the app, and unins000.exe
;   {autoprograms}\Scalpel.lnk                      Start menu, all users
;   {autodesktop}\Scalpel.lnk                       only with task "desktopicon"
;   HKLM ...\Uninstall\{3EB5B4B7-...}_is1           Apps & features entry
;   HKLM system PATH += {app}                       only with task "addtopath"
;   {commonappdata}\Scalpel (C:\ProgramData\Scalpel) + presets\   IT's folder:
;       created and locked to Administrators/SYSTEM (users read only); receives
;       policy.json only when /POLICY= is given. Never removed by the uninstaller.
; No Run/RunOnce key, no scheduled task, no service: nothing starts with Windows.

#if PREPROCVER < EncodeVer(6, 3, 0)
  #error Inno Setup 6.3 or later is required (x64compatible architecture identifier)
#endif

#ifndef AppVersion
  ; Fallback only: build.ps1 always passes /DAppVersion= read from desktop_app/__init__.py.
  #define AppVersion "0.1.0"
#endif
#ifndef AppVersionNumeric
  ; VersionInfoVersion takes digits and dots only (build.ps1 passes it for e.g. 0.2.0rc1).
  #define AppVersionNumeric AppVersion
#endif

#define AppName "Scalpel"
#define AppPublisher "Scalpel"
#define Here AddBackslash(SourcePath)
#define DistDir Here + "..\..\dist\scalpel"

#if !FileExists(DistDir + "\scalpel-gui.exe") || !FileExists(DistDir + "\scalpel.exe")
  #error dist\scalpel\scalpel.exe or scalpel-gui.exe is missing: run "pyinstaller --noconfirm packaging\scalpel.spec" first
#endif

[Setup]
; Never change AppId: upgrades, detection rules and the uninstall key depend on it.
AppId={{3EB5B4B7-67A1-4279-8738-1E58875E3E6F}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher={#AppPublisher}
VersionInfoVersion={#AppVersionNumeric}
VersionInfoProductTextVersion={#AppVersion}
VersionInfoDescription={#AppName} Setup

; Per-machine only. PrivilegesRequiredOverridesAllowed is deliberately not set
; (blank): no "install for me only" dialog, and /CURRENTUSER is ignored.
; /ALLUSERS is accepted and ignored too (already the only mode).
PrivilegesRequired=admin
UsedUserAreasWarning=no

; 64-bit app: native Program Files and the 64-bit registry view.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Qt 6.8 needs Windows 10 1809 or later.
MinVersion=10.0.17763

DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
UninstallDisplayName={#AppName}
UninstallDisplayIcon={app}\scalpel-gui.exe

SourceDir={#DistDir}
OutputDir={#Here}..\..\dist
OutputBaseFilename=ScalpelSetup-{#AppVersion}
SetupIconFile={#Here}..\icons\scalpel.ico
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
LZMAUseSeparateProcess=yes

; A log in %TEMP% on every run (Setup Log yyyy-mm-dd #nnn.txt); /LOG="file" picks the name.
SetupLogging=yes
; One Setup at a time on the machine.
SetupMutex=ScalpelSetup,Global\ScalpelSetup
; Upgrades close a running Scalpel through the Restart Manager and do not relaunch it
; (a silent SYSTEM install must not start the GUI).
CloseApplications=yes
CloseApplicationsFilter=*.exe,*.dll,*.pyd
RestartApplications=no
; For the optional PATH task: broadcast WM_SETTINGCHANGE after install and uninstall.
ChangesEnvironment=yes

; --- Code signing ------------------------------------------------------------
; With a Sign Tool, ISCC signs Setup itself and the uninstaller it generates
; (unins000.exe is created at compile time, so this is the only way to sign it;
; signing Setup afterwards would also leave its temporary self-copies unsigned).
; build.ps1 enables it when SCALPEL_SIGN_CERT is set, in effect:
;   ISCC.exe /DSign "/Sscalpelsign=$qC:\Program Files (x86)\Windows Kits\10\bin\<ver>\x64\signtool.exe$q sign /sha1 <thumbprint> /fd sha256 /tr http://timestamp.digicert.com /td sha256 /d $qScalpel$q $f" packaging\windows\scalpel.iss
; ($q = a quote, $f = the quoted file to sign.) In the Compiler IDE instead:
; Tools > Configure Sign Tools..., add "scalpelsign" with the same command (no /S
; prefix), then compile with /DSign or uncomment the two lines below.
; The .exe/.dll/.pyd files of the app itself are signed by build.ps1 before this runs.
;SignTool=scalpelsign
;SignedUninstaller=yes
#ifdef Sign
SignTool=scalpelsign
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the scalpel command-line tool to the system PATH"; GroupDescription: "Command line:"; Flags: unchecked

[InstallDelete]
; Upgrades: drop the previous runtime first so no stale DLL or extension module
; from an older build lingers next to the new one.
Type: filesandordirs; Name: "{app}\_internal"

[Dirs]
; IT's machine-wide folder (policy.json, presets\). Kept on uninstall.
Name: "{commonappdata}\Scalpel"; Flags: uninsneveruninstall
Name: "{commonappdata}\Scalpel\presets"; Flags: uninsneveruninstall

[Files]
; The whole PyInstaller one-folder output (SourceDir): both executables and _internal\.
Source: "*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

; Optional machine policy: Setup.exe /POLICY=C:\path\policy.json
; Copied only when /POLICY= is given ({param:POLICY|} is empty otherwise), and
; then it replaces any policy.json already there. Without /POLICY= an existing
; policy.json is left exactly as it is (hence no onlyifdoesntexist: /POLICY= is an
; explicit instruction to replace). A relative path is taken from the folder
; holding Setup.exe (see PolicySource). uninsneveruninstall: uninstalling Scalpel
; never removes IT's policy.
Source: "{code:PolicySource}"; DestDir: "{commonappdata}\Scalpel"; DestName: "policy.json"; Check: PolicyGiven; Flags: external ignoreversion overwritereadonly uninsneveruninstall

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\scalpel-gui.exe"; WorkingDir: "{app}"; Comment: "Private assistant running small models on this computer"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\scalpel-gui.exe"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
; Interactive installs only (skipifsilent); postinstall entries run as the
; logged-on user, not elevated.
Filename: "{app}\scalpel-gui.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
const
  EnvironmentKey = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';

{ --- /POLICY= ------------------------------------------------------------ }

function PolicyParam: String;
begin
  Result := Trim(RemoveQuotes(ExpandConstant('{param:POLICY|}')));
end;

function PolicyGiven: Boolean;
begin
  Result := PolicyParam <> '';
end;

{ C:\... or \\server\share\... (nested ifs: no reliance on short-circuit evaluation). }
function IsAbsolutePath(const Path: String): Boolean;
begin
  Result := False;
  if Length(Path) >= 3 then
    if (Path[2] = ':') and (Path[3] = '\') then
      Result := True
    else if (Path[1] = '\') and (Path[2] = '\') then
      Result := True;
end;

{ The file to copy: /POLICY= as given, a relative path taken from the folder
  holding Setup.exe, as Intune and SCCM run Setup from its content folder. }
function PolicySource(Param: String): String;
begin
  Result := PolicyParam;
  if (Result <> '') and not IsAbsolutePath(Result) then
    Result := AddBackslash(ExpandConstant('{src}')) + Result;
end;

{ A missing /POLICY= file stops Setup before anything is installed: exit code 7. }
function PrepareToInstall(var NeedsRestart: Boolean): String;
begin
  Result := '';
  if PolicyGiven then begin
    if FileExists(PolicySource('')) then
      Log('Policy file to install: ' + PolicySource(''))
    else begin
      Result := 'The policy file given with /POLICY= does not exist: ' + PolicySource('');
      Log(Result);
    end;
  end;
end;

{ --- %ProgramData%\Scalpel: writable by administrators only ---------------- }

{ ProgramData lets every user create files in new subfolders, so a user could
  plant or edit policy.json/presets for everyone. Before anything is copied the
  folder gets Administrators as owner and an explicit ACL: SYSTEM and
  Administrators full control, Users read & execute, nothing inherited;
  whatever is already inside is reset to inherit it. SIDs, not names, so it
  works on every Windows language. }
procedure RunIcacls(const Params: String);
var
  ResultCode: Integer;
begin
  if not Exec(ExpandConstant('{sys}\icacls.exe'), Params, '', SW_HIDE,
              ewWaitUntilTerminated, ResultCode) then
    Log('icacls could not start: ' + SysErrorMessage(ResultCode))
  else if ResultCode <> 0 then
    Log(Format('icacls %s: exit code %d', [Params, ResultCode]))
  else
    Log('icacls ' + Params + ': done');
end;

procedure LockDownMachineFolder;
var
  Dir: String;
begin
  Dir := ExpandConstant('{commonappdata}\Scalpel');
  if not ForceDirectories(Dir) then begin
    Log('Cannot create ' + Dir);
    Exit;
  end;
  RunIcacls('"' + Dir + '" /setowner *S-1-5-32-544 /T /C /Q');
  RunIcacls('"' + Dir + '" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX /Q');
  { Exit code 2 here only means the folder is still empty. }
  RunIcacls('"' + Dir + '\*" /reset /T /C /Q');
end;

{ --- Optional PATH entry (task addtopath) --------------------------------- }

function SameDir(const A, B: String): Boolean;
begin
  Result := CompareText(RemoveBackslashUnlessRoot(Trim(RemoveQuotes(A))),
                        RemoveBackslashUnlessRoot(Trim(RemoveQuotes(B)))) = 0;
end;

{ Paths without every entry equal to Dir; Found tells whether there was one. }
function PathWithout(const Paths, Dir: String; var Found: Boolean): String;
var
  Rest, Item: String;
  P: Integer;
begin
  Result := '';
  Found := False;
  Rest := Paths;
  while Rest <> '' do begin
    P := Pos(';', Rest);
    if P = 0 then begin
      Item := Rest;
      Rest := '';
    end else begin
      Item := Copy(Rest, 1, P - 1);
      Rest := Copy(Rest, P + 1, Length(Rest));
    end;
    if SameDir(Item, Dir) then
      Found := True
    else if Trim(Item) <> '' then begin
      if Result <> '' then
        Result := Result + ';';
      Result := Result + Item;
    end;
  end;
end;

{ Reads the machine Path; False (and nothing must be written) when it exists
  but cannot be read, so a failure can never truncate it. }
function ReadMachinePath(var Paths: String): Boolean;
begin
  Paths := '';
  Result := RegQueryStringValue(HKEY_LOCAL_MACHINE, EnvironmentKey, 'Path', Paths)
    or not RegValueExists(HKEY_LOCAL_MACHINE, EnvironmentKey, 'Path');
  if not Result then
    Log('The machine Path cannot be read; left unchanged');
end;

procedure AddToPath(const Dir: String);
var
  Paths: String;
  Found: Boolean;
begin
  if not ReadMachinePath(Paths) then
    Exit;
  PathWithout(Paths, Dir, Found);
  if Found then
    Exit;
  if Paths <> '' then
    if Paths[Length(Paths)] <> ';' then
      Paths := Paths + ';';
  if RegWriteExpandStringValue(HKEY_LOCAL_MACHINE, EnvironmentKey, 'Path', Paths + Dir) then
    Log('Added to the machine Path: ' + Dir)
  else
    Log('Could not add to the machine Path: ' + Dir);
end;

procedure RemoveFromPath(const Dir: String);
var
  Paths, NewPaths: String;
  Found: Boolean;
begin
  if not ReadMachinePath(Paths) then
    Exit;
  NewPaths := PathWithout(Paths, Dir, Found);
  if not Found then
    Exit;
  if RegWriteExpandStringValue(HKEY_LOCAL_MACHINE, EnvironmentKey, 'Path', NewPaths) then
    Log('Removed from the machine Path: ' + Dir)
  else
    Log('Could not remove from the machine Path: ' + Dir);
end;

{ --- Steps ------------------------------------------------------------------ }

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if CurStep = ssInstall then
    LockDownMachineFolder
  else if CurStep = ssPostInstall then begin
    { Also run on upgrades: unticking the task removes an entry added before. }
    if WizardIsTaskSelected('addtopath') then
      AddToPath(ExpandConstant('{app}'))
    else
      RemoveFromPath(ExpandConstant('{app}'));
  end;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  { %ProgramData%\Scalpel (policy.json, presets\) and the users' own data
    (%LOCALAPPDATA%\Scalpel) are deliberately left in place. }
  if CurUninstallStep = usUninstall then
    RemoveFromPath(ExpandConstant('{app}'));
end;
