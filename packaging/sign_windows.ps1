<#
.SYNOPSIS
  Authenticode-sign every executable and library of a Clinic Suite build on Windows with signtool.

.EXAMPLE
  # a certificate in a .pfx file
  .\packaging\sign_windows.ps1 -Path dist\clinic-triage, dist\clinic-workstation -Pfx codesign.pfx -PfxPassword (Read-Host -AsSecureString)
  # a certificate in the machine's store (an EV token), by thumbprint
  .\packaging\sign_windows.ps1 -Path dist -Thumbprint 0123ABCD... -TimestampUrl http://timestamp.example

.NOTES
  Signs each .exe/.dll/.pyd that has no valid signature yet (vendor-signed Python, Qt and MSVC runtime files
  keep their vendor's signature), with SHA-256 and an RFC 3161 timestamp, then verifies every file with
  "signtool verify /pa". Without -Pfx or -Thumbprint the build is left unsigned and the script says so.
  Run it on the bundles BEFORE packaging/build.py --archive and before compiling the installer, then sign
  the installer itself (Inno Setup: SignTool directive, or run this script on Output\*.exe).
  signtool.exe comes with the Windows SDK; set $env:SIGNTOOL to its path if it is not on PATH.
  This script is not run by the Linux test suite: it is written to the documented signtool options and
  has to be tried on a Windows build machine.
#>
param(
    [Parameter(Mandatory = $true)][string[]]$Path,
    [string]$Pfx,
    [SecureString]$PfxPassword,
    [string]$Thumbprint,
    [string]$TimestampUrl = "",
    [string]$Description = "Clinic Suite"
)
$ErrorActionPreference = "Stop"

if (-not $Pfx -and -not $Thumbprint) {
    Write-Warning "No certificate given (-Pfx or -Thumbprint): the build is left unsigned."
    exit 0
}
$signtool = if ($env:SIGNTOOL) { $env:SIGNTOOL } else { (Get-Command signtool.exe -ErrorAction Stop).Source }

$certArgs = @()
if ($Pfx) {
    $certArgs += @("/f", (Resolve-Path $Pfx).Path)
    if ($PfxPassword) {
        $plain = [Runtime.InteropServices.Marshal]::PtrToStringBSTR(
            [Runtime.InteropServices.Marshal]::SecureStringToBSTR($PfxPassword))
        $certArgs += @("/p", $plain)
    } elseif ($env:SIGN_PFX_PASS) {
        # packaging/build.py --sign passes the password this way (a build server's secret variable)
        $certArgs += @("/p", $env:SIGN_PFX_PASS)
    }
} else {
    $certArgs += @("/sha1", $Thumbprint)
}
$tsArgs = @()
if ($TimestampUrl) { $tsArgs = @("/tr", $TimestampUrl, "/td", "SHA256") }

$files = Get-ChildItem -Path $Path -Recurse -File -Include *.exe, *.dll, *.pyd
$signed = 0; $kept = 0; $failed = 0
foreach ($file in $files) {
    $sig = Get-AuthenticodeSignature -FilePath $file.FullName
    if ($sig.Status -eq "Valid") { $kept++; continue }
    & $signtool sign /fd SHA256 /d $Description @certArgs @tsArgs $file.FullName | Out-Null
    if ($LASTEXITCODE -ne 0) { Write-Error "signing failed: $($file.FullName)" -ErrorAction Continue; $failed++; continue }
    & $signtool verify /pa /q $file.FullName | Out-Null
    if ($LASTEXITCODE -ne 0) { Write-Error "verification failed: $($file.FullName)" -ErrorAction Continue; $failed++; continue }
    $signed++
}
Write-Host "signed $signed file(s); $kept already signed by their vendor; $failed failed"
if ($failed -gt 0) { exit 1 }
