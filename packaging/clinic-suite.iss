; Inno Setup 6 script for Clinic Suite on Windows (per-machine install).
;
;   python packaging\build.py all --archive --trusted-root keys-repo\metadata\1.root.json
;   powershell -File packaging\sign_windows.ps1 -Path dist -Pfx codesign.pfx -PfxPassword (Read-Host -AsSecureString)
;   iscc /DAppVersion=1.2.0 /DSiteConfig=C:\it\site.toml /DTrustedRoot=C:\it\1.root.json packaging\clinic-suite.iss
;
; Layout (what shared/update/client.py expects; the updater installs later versions beside the first):
;   {app}\<app>\versions\<version>\clinic-<app>.exe    the bundle (from dist\clinic-<app>)
;   {app}\<app>\state.json                             which version is current / previous
;   {app}\<app>\current  -> versions\<version>         a directory junction the shortcuts go through
;   {app}\<app>\tuf\root.json                          the update mirror's trusted TUF root
;   {commonappdata}\ClinicSuite\site.toml              the site configuration (kept on upgrade/uninstall)
;   {commonappdata}\ClinicSuite\data                   local databases when site.toml sets data_folder there
; A scheduled task (SYSTEM, daily 03:00) runs "clinic-<app> update --apply" for each installed app.
;
; NOT built or tested in this repository's CI (Linux): compile it on a Windows build machine with Inno
; Setup 6 and sign the resulting setup .exe (SignTool directive below, or sign_windows.ps1 afterwards).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef DistDir
  #define DistDir "..\dist"
#endif

[Setup]
AppId={{6A1F2C3D-7E8B-4C59-9A0D-C11A1C5E7F01}
AppName=Clinic Suite
AppVersion={#AppVersion}
AppPublisher=Clinic Suite
DefaultDirName={autopf}\ClinicSuite
DefaultGroupName=Clinic Suite
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=ClinicSuite-Setup-{#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ShowLanguageDialog=auto
UninstallDisplayName=Clinic Suite {#AppVersion}
; Sign the installer and uninstaller when a "clinicsign" sign tool is configured in the IDE / iscc /S:
;SignTool=clinicsign
;SignedUninstaller=yes

[Languages]
Name: "chinesesimplified"; MessagesFile: "compiler:Languages\ChineseSimplified.isl"
Name: "english"; MessagesFile: "compiler:Default.isl"

[Types]
Name: "doctor"; Description: "Doctor workstation"
Name: "pharmacy"; Description: "Pharmacy desk"
Name: "triage"; Description: "Triage desk / waiting-room display"
Name: "custom"; Description: "Custom"; Flags: iscustom

[Components]
Name: "workstation"; Description: "Doctor workstation"; Types: doctor custom
Name: "pharmacy"; Description: "Pharmacy desk"; Types: pharmacy custom
Name: "triage"; Description: "Triage desk, kiosk and waiting-room display"; Types: triage custom
Name: "server"; Description: "Central API (for a server PC)"; Types: custom

[Dirs]
Name: "{commonappdata}\ClinicSuite"
Name: "{commonappdata}\ClinicSuite\data"; Permissions: users-modify
Name: "{commonappdata}\ClinicSuite\logs"; Permissions: users-modify

[Files]
Source: "{#DistDir}\clinic-workstation\*"; DestDir: "{app}\workstation\versions\{#AppVersion}"; Components: workstation; Flags: recursesubdirs ignoreversion
Source: "{#DistDir}\clinic-pharmacy\*"; DestDir: "{app}\pharmacy\versions\{#AppVersion}"; Components: pharmacy; Flags: recursesubdirs ignoreversion
Source: "{#DistDir}\clinic-triage\*"; DestDir: "{app}\triage\versions\{#AppVersion}"; Components: triage; Flags: recursesubdirs ignoreversion
Source: "{#DistDir}\clinic-server\*"; DestDir: "{app}\server\versions\{#AppVersion}"; Components: server; Flags: recursesubdirs ignoreversion
#ifdef TrustedRoot
Source: "{#TrustedRoot}"; DestDir: "{app}\workstation\tuf"; DestName: "root.json"; Components: workstation; Flags: onlyifdoesntexist
Source: "{#TrustedRoot}"; DestDir: "{app}\pharmacy\tuf"; DestName: "root.json"; Components: pharmacy; Flags: onlyifdoesntexist
Source: "{#TrustedRoot}"; DestDir: "{app}\triage\tuf"; DestName: "root.json"; Components: triage; Flags: onlyifdoesntexist
Source: "{#TrustedRoot}"; DestDir: "{app}\server\tuf"; DestName: "root.json"; Components: server; Flags: onlyifdoesntexist
#endif
#ifdef SiteConfig
Source: "{#SiteConfig}"; DestDir: "{commonappdata}\ClinicSuite"; DestName: "site.toml"; Flags: onlyifdoesntexist uninsneveruninstall
#endif
Source: "site.example.toml"; DestDir: "{commonappdata}\ClinicSuite"; DestName: "site.example.toml"; Flags: ignoreversion

[Icons]
Name: "{group}\医生工作站 Doctor workstation"; Filename: "{app}\workstation\current\clinic-workstation.exe"; Components: workstation
Name: "{group}\药房 Pharmacy desk"; Filename: "{app}\pharmacy\current\clinic-pharmacy.exe"; Components: pharmacy
Name: "{group}\分诊台 Triage desk"; Filename: "{app}\triage\current\clinic-triage.exe"; Components: triage
Name: "{group}\候诊屏 Waiting-room display"; Filename: "{app}\triage\current\clinic-triage.exe"; Parameters: "display"; Components: triage
Name: "{group}\检查配置 Check configuration"; Filename: "{cmd}"; Parameters: "/k ""{app}\triage\current\clinic-triage.exe"" config check"; Components: triage

[Run]
; state.json + the "current" junction for each installed app, then a self-test of the new bundle.
Filename: "{cmd}"; Parameters: "/c echo {{""app"": ""workstation"", ""current"": ""{#AppVersion}"", ""previous"": """", ""bad"": [], ""history"": []}> ""{app}\workstation\state.json"" && (rmdir ""{app}\workstation\current"" 2>nul & mklink /J ""{app}\workstation\current"" ""{app}\workstation\versions\{#AppVersion}"")"; Components: workstation; Flags: runhidden
Filename: "{cmd}"; Parameters: "/c echo {{""app"": ""pharmacy"", ""current"": ""{#AppVersion}"", ""previous"": """", ""bad"": [], ""history"": []}> ""{app}\pharmacy\state.json"" && (rmdir ""{app}\pharmacy\current"" 2>nul & mklink /J ""{app}\pharmacy\current"" ""{app}\pharmacy\versions\{#AppVersion}"")"; Components: pharmacy; Flags: runhidden
Filename: "{cmd}"; Parameters: "/c echo {{""app"": ""triage"", ""current"": ""{#AppVersion}"", ""previous"": """", ""bad"": [], ""history"": []}> ""{app}\triage\state.json"" && (rmdir ""{app}\triage\current"" 2>nul & mklink /J ""{app}\triage\current"" ""{app}\triage\versions\{#AppVersion}"")"; Components: triage; Flags: runhidden
Filename: "{cmd}"; Parameters: "/c echo {{""app"": ""server"", ""current"": ""{#AppVersion}"", ""previous"": """", ""bad"": [], ""history"": []}> ""{app}\server\state.json"" && (rmdir ""{app}\server\current"" 2>nul & mklink /J ""{app}\server\current"" ""{app}\server\versions\{#AppVersion}"")"; Components: server; Flags: runhidden
Filename: "{app}\workstation\current\clinic-workstation.exe"; Parameters: "--self-test"; StatusMsg: "Self-test: doctor workstation"; Components: workstation; Flags: runhidden waituntilterminated
Filename: "{app}\pharmacy\current\clinic-pharmacy.exe"; Parameters: "--self-test"; StatusMsg: "Self-test: pharmacy desk"; Components: pharmacy; Flags: runhidden waituntilterminated
Filename: "{app}\triage\current\clinic-triage.exe"; Parameters: "--self-test"; StatusMsg: "Self-test: triage desk"; Components: triage; Flags: runhidden waituntilterminated
; Nightly updates as SYSTEM (the mirror is site.toml's update_mirror; nothing happens while it is empty).
Filename: "schtasks.exe"; Parameters: "/Create /F /SC DAILY /ST 03:00 /RU SYSTEM /TN ""ClinicSuite\Update workstation"" /TR ""\""{app}\workstation\current\clinic-workstation.exe\"" update --apply"""; Components: workstation; Flags: runhidden
Filename: "schtasks.exe"; Parameters: "/Create /F /SC DAILY /ST 03:05 /RU SYSTEM /TN ""ClinicSuite\Update pharmacy"" /TR ""\""{app}\pharmacy\current\clinic-pharmacy.exe\"" update --apply"""; Components: pharmacy; Flags: runhidden
Filename: "schtasks.exe"; Parameters: "/Create /F /SC DAILY /ST 03:10 /RU SYSTEM /TN ""ClinicSuite\Update triage"" /TR ""\""{app}\triage\current\clinic-triage.exe\"" update --apply"""; Components: triage; Flags: runhidden

[UninstallRun]
Filename: "schtasks.exe"; Parameters: "/Delete /F /TN ""ClinicSuite\Update workstation"""; Flags: runhidden; RunOnceId: "delws"
Filename: "schtasks.exe"; Parameters: "/Delete /F /TN ""ClinicSuite\Update pharmacy"""; Flags: runhidden; RunOnceId: "delph"
Filename: "schtasks.exe"; Parameters: "/Delete /F /TN ""ClinicSuite\Update triage"""; Flags: runhidden; RunOnceId: "deltr"

[UninstallDelete]
; Versions installed later by the updater; local data in {commonappdata}\ClinicSuite\data is kept.
Type: filesandordirs; Name: "{app}\workstation"
Type: filesandordirs; Name: "{app}\pharmacy"
Type: filesandordirs; Name: "{app}\triage"
Type: filesandordirs; Name: "{app}\server"

#ifndef SiteConfig
[Code]
{ Without /DSiteConfig=..., a PC still gets a site.toml (kept if one is there) whose data_folder is the
  per-machine folder: every user of the PC and the nightly SYSTEM update task then see the same local
  databases, so an update backs up and migrates the databases the apps really use. IT edits the rest
  (server_url, update_mirror, printers ...) and runs "clinic-triage config check". }
procedure CurStepChanged(CurStep: TSetupStep);
var
  Path: String;
begin
  if CurStep = ssInstall then
  begin
    Path := ExpandConstant('{commonappdata}\ClinicSuite\site.toml');
    if not FileExists(Path) then
    begin
      ForceDirectories(ExpandConstant('{commonappdata}\ClinicSuite'));
      SaveStringToFile(Path,
        '# Written by the installer; every key: site.example.toml beside this file.' + #13#10 +
        '# Check it with: "' + ExpandConstant('{app}') + '\triage\current\clinic-triage.exe" config check' + #13#10 +
        'data_folder = ''' + ExpandConstant('{commonappdata}') + '\ClinicSuite\data''' + #13#10, False);
    end;
  end;
end;
#endif
