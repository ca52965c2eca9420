<#
.SYNOPSIS
    TechCare standalone capture for Windows: records the raw output of every TechCare probe into one
    snapshot file (format "techcare-snapshot", version 1). Needs no Python on the customer PC.

.DESCRIPTION
    Read only: it runs the same PowerShell probe scripts as TechCare itself (techcare/system/_windows.py,
    SCRIPTS) and the driver inventory and driver update search (techcare/tools/drivers/_windows.py), and
    writes what each printed, its exit code and duration, plus the facts "host" and "metrics" gathered here
    with CIM: exactly the Windows list of techcare/system/recorded.py (tests keep the texts byte-identical
    and compare this script with that list). Analyse the file anywhere with
        techcare diagnose --snapshot FILE

    Run it in Windows PowerShell 5.1 or PowerShell 7, as administrator for the complete picture
    (disk reliability counters need elevation):
        powershell.exe -NoProfile -ExecutionPolicy Bypass -File capture.ps1 -OutFile C:\Temp\pc.json

    The recorded argv is exactly what TechCare runs (replay matches commands by exact argv). The script
    argument is quoted by the Windows command-line rules (as Python's subprocess does), so any script text
    reaches powershell.exe unchanged.

.PARAMETER OutFile
    Where to write the snapshot (.json). Default: techcare-snapshot-<COMPUTERNAME>-<time>.json here.

.PARAMETER TimeoutSeconds
    Upper limit for any single probe script (the Windows Update search may take minutes).
#>
[CmdletBinding()]
param(
    [string]$OutFile = '',
    [ValidateRange(10, 3600)][int]$TimeoutSeconds = 300
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$FormatName = 'techcare-snapshot'
$FormatVersion = 1
$CaptureVersion = '1'

# argv[0..5] of every probe command; the script text is the last argument.
$PowerShellArgv = @('powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command')

# Seconds per script, as in TIMEOUTS of _windows.py (capped by -TimeoutSeconds).
$Timeouts = @{ 'pending_updates' = 300; 'events' = 60; 'smart' = 60; 'services' = 60 }
$DefaultTimeout = 45
$DriverTimeout = 300

# ---- the probe scripts (byte-identical to techcare/system/_windows.py SCRIPTS) ----------------------------
$Scripts = [ordered]@{}
$Scripts['firewall'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; ConvertTo-Json -InputObject @(Get-NetFirewallProfile -PolicyStore ActiveStore | Select-Object Name, @{n='Enabled';e={[string]$_.Enabled}}, @{n='DefaultInboundAction';e={[string]$_.DefaultInboundAction}}) -Depth 4
'@
$Scripts['defender'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; ConvertTo-Json -InputObject @(Get-MpComputerStatus | Select-Object AMServiceEnabled, AntivirusEnabled, RealTimeProtectionEnabled, AntispywareEnabled, AntivirusSignatureAge, AntivirusSignatureLastUpdated, DefenderSignaturesOutOfDate, AMRunningMode, IsTamperProtected, FullScanAge, QuickScanAge, AMProductVersion) -Depth 4
'@
$Scripts['security_center'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; ConvertTo-Json -InputObject @(Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct | Select-Object displayName, productState, pathToSignedProductExe, timestamp) -Depth 4
'@
$Scripts['update_service'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; ConvertTo-Json -InputObject @(Get-Service -Name wuauserv -ErrorAction SilentlyContinue | Select-Object Name, DisplayName, @{n='Status';e={[int]$_.Status}}, @{n='StartType';e={[int]$_.StartType}}) -Depth 4
'@
$Scripts['services'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; ConvertTo-Json -InputObject @(Get-CimInstance -ClassName Win32_Service | Where-Object { $_.StartMode -eq 'Auto' -and $_.State -ne 'Running' } | Select-Object Name, DisplayName, State, StartMode, ExitCode, ServiceSpecificExitCode, DelayedAutoStart, @{n='TriggerStart';e={Test-Path -LiteralPath ('HKLM:\SYSTEM\CurrentControlSet\Services\' + $_.Name + '\TriggerInfo')}}) -Depth 4
'@
$Scripts['pending_updates'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; try { $s = New-Object -ComObject Microsoft.Update.Session; $s.ClientApplicationID = 'TechCare'; $r = $s.CreateUpdateSearcher().Search('IsInstalled=0 and IsHidden=0'); $u = @(foreach ($x in $r.Updates) { [pscustomobject]@{ Title = $x.Title; KB = @($x.KBArticleIDs); MsrcSeverity = $x.MsrcSeverity; Categories = @(foreach ($c in $x.Categories) { $c.Name }); CategoryIDs = @(foreach ($c in $x.Categories) { $c.CategoryID }); IsMandatory = $x.IsMandatory; RebootRequired = $x.RebootRequired; Type = [int]$x.Type } }); ConvertTo-Json -InputObject ([pscustomobject]@{ ResultCode = [int]$r.ResultCode; Updates = $u }) -Depth 4 } catch { $e = $_.Exception; while ($e.InnerException) { $e = $e.InnerException }; [Console]::Error.WriteLine(('HRESULT 0x{0:X8} {1}' -f $e.HResult, $e.Message)); exit 1 }
'@
$Scripts['pending_reboot'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; $k = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion'; $p = (Get-ItemProperty -LiteralPath 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name PendingFileRenameOperations -ErrorAction SilentlyContinue).PendingFileRenameOperations; ConvertTo-Json -InputObject @([pscustomobject]@{ CBSRebootPending = (Test-Path -LiteralPath ($k + '\Component Based Servicing\RebootPending')); WURebootRequired = (Test-Path -LiteralPath ($k + '\WindowsUpdate\Auto Update\RebootRequired')); PendingFileRenameOperations = @($p | Where-Object { $_ }) }) -Depth 4
'@
$Scripts['events'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; $e = @(foreach ($l in 'System', 'Application') { try { Get-WinEvent -FilterHashtable @{LogName=$l; Level=1,2} -MaxEvents 5 -ErrorAction Stop } catch { if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw } } }); ConvertTo-Json -InputObject @($e | Sort-Object TimeCreated -Descending | Select-Object -First 5 TimeCreated, Id, Level, LevelDisplayName, ProviderName, LogName, Message) -Depth 4
'@
$Scripts['smart'] = @'
$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; $a = ([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator); $d = @(Get-PhysicalDisk | Sort-Object { $_.DeviceId -as [int] } | ForEach-Object { $p = $_; $c = $null; $f = $null; try { $c = $p | Get-StorageReliabilityCounter -ErrorAction Stop | Select-Object Temperature, TemperatureMax, Wear, ReadErrorsUncorrected, ReadErrorsTotal, WriteErrorsUncorrected, WriteErrorsTotal, PowerOnHours } catch { $f = [string]$_.FullyQualifiedErrorId + ': ' + $_.Exception.Message }; [pscustomobject]@{ DeviceId = $p.DeviceId; FriendlyName = $p.FriendlyName; SerialNumber = $p.SerialNumber; MediaType = $p.MediaType; BusType = $p.BusType; HealthStatus = $p.HealthStatus; OperationalStatus = @($p.OperationalStatus); Size = $p.Size; Reliability = $c; ReliabilityError = $f } }); ConvertTo-Json -InputObject ([pscustomobject]@{ IsAdmin = $a; Disks = $d }) -Depth 4
'@
# ---- the driver inventory (byte-identical to techcare/tools/drivers/_windows.py INVENTORY_ARGV / WU_ARGV) --
$DriverScripts = [ordered]@{}
$DriverScripts['inventory'] = @'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; ConvertTo-Json -Depth 4 -InputObject @(Get-CimInstance -ClassName Win32_PnPSignedDriver | Select-Object DeviceName,DriverVersion,DriverDate,HardWareID,Manufacturer,DeviceClass,InfName,IsSigned,DriverProviderName,DeviceID)
'@
$DriverScripts['windows_update'] = @'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; $s = New-Object -ComObject Microsoft.Update.Session; $q = $s.CreateUpdateSearcher(); $r = $q.Search("IsInstalled=0 and IsHidden=0 and Type='Driver'"); ConvertTo-Json -Depth 4 -InputObject @($r.Updates | ForEach-Object { [pscustomobject]@{ Title = $_.Title; UpdateID = $_.Identity.UpdateID; DriverClass = $_.DriverClass; DriverHardwareID = $_.DriverHardwareID; DriverManufacturer = $_.DriverManufacturer; DriverModel = $_.DriverModel; DriverProvider = $_.DriverProvider; DriverVerDate = $_.DriverVerDate; MsrcSeverity = $_.MsrcSeverity; SupportUrl = $_.SupportUrl; RebootRequired = $_.RebootRequired } })
'@
# ---- running one script -----------------------------------------------------------------------------------

# One argument quoted by the rules of CommandLineToArgvW / the C runtime (what powershell.exe uses to split
# its command line): backslashes are literal unless they precede a double quote.
function ConvertTo-CommandLineArgument([string]$Argument) {
    if ($Argument -and $Argument -notmatch '[\s"]') { return $Argument }
    $builder = New-Object System.Text.StringBuilder
    [void]$builder.Append([char]'"')
    $backslashes = 0
    foreach ($ch in $Argument.ToCharArray()) {
        if ($ch -eq [char]'\') { $backslashes++; continue }
        if ($ch -eq [char]'"') {
            [void]$builder.Append([char]'\', 2 * $backslashes + 1)
        } elseif ($backslashes -gt 0) {
            [void]$builder.Append([char]'\', $backslashes)
        }
        [void]$builder.Append($ch)
        $backslashes = 0
    }
    [void]$builder.Append([char]'\', 2 * $backslashes)
    [void]$builder.Append([char]'"')
    return $builder.ToString()
}

function Invoke-ProbeScript {
    # (PowerShell variable names ignore case: the seconds live in $seconds, the override in $TimeoutOverride.)
    param([string]$Name, [string]$Script, [int]$TimeoutOverride = 0)
    $seconds = $DefaultTimeout
    if ($Timeouts.ContainsKey($Name)) { $seconds = $Timeouts[$Name] }
    if ($TimeoutOverride -gt 0) { $seconds = $TimeoutOverride }
    $seconds = [Math]::Min($seconds, $TimeoutSeconds)
    $exe = Join-Path $env:SystemRoot 'System32\WindowsPowerShell\v1.0\powershell.exe'
    if (-not (Test-Path -LiteralPath $exe)) { $exe = 'powershell.exe' }
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $exe
    $psi.Arguments = (($PowerShellArgv[1..($PowerShellArgv.Count - 1)]) -join ' ') + ' ' + (ConvertTo-CommandLineArgument $Script)
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardInput = $false
    $psi.CreateNoWindow = $true
    $psi.StandardOutputEncoding = New-Object System.Text.UTF8Encoding($false)
    $psi.StandardErrorEncoding = New-Object System.Text.UTF8Encoding($false)
    $entry = [ordered]@{ kind = 'cmd'; argv = @($PowerShellArgv + $Script); returncode = $null; stdout = '';
                         stderr = ''; duration = 0.0; error = $null }
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    $process = New-Object System.Diagnostics.Process
    $process.StartInfo = $psi
    try {
        $null = $process.Start()
    } catch {
        $entry.stderr = [string]$_.Exception.Message
        $entry.error = 'not_found'
        return $entry
    }
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    if ($process.WaitForExit([int]($seconds * 1000))) {
        $process.WaitForExit()
        $entry.returncode = $process.ExitCode
    } else {
        try { $process.Kill() } catch { }
        $null = $process.WaitForExit(5000)
        $entry.error = 'timeout'
    }
    $watch.Stop()
    $null = $stdout.Wait(5000)
    $null = $stderr.Wait(5000)
    if ($stdout.IsCompleted) { $entry.stdout = $stdout.Result }
    if ($stderr.IsCompleted) { $entry.stderr = $stderr.Result }
    $entry.duration = [Math]::Round($watch.Elapsed.TotalSeconds, 4)
    return $entry
}

# ---- facts (the shapes of techcare/system/_facts.py) ------------------------------------------------------

# Seconds since 1970 from the difference to the epoch: DateTimeOffset.ToUnixTimeMilliseconds needs .NET 4.6, and
# Windows PowerShell 5.1 also runs on .NET 4.5 (Windows 7 / 8.1 / Server 2012 with WMF 5.1).
$UnixEpoch = New-Object System.DateTime -ArgumentList 1970, 1, 1, 0, 0, 0, ([System.DateTimeKind]::Utc)
function Get-UnixTime([datetime]$When) {
    return [Math]::Round(($When.ToUniversalTime() - $UnixEpoch).TotalSeconds, 3)
}

function Test-Administrator {
    $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
    return ([Security.Principal.WindowsPrincipal]$identity).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Get-HostFact {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $build = 0
    [void][int]::TryParse([string]$os.BuildNumber, [ref]$build)
    $release = '10'
    if ($build -ge 22000) { $release = '11' }
    $edition = $null
    try {
        $edition = (Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -Name EditionID).EditionID
    } catch { }
    return [ordered]@{
        hostname = $env:COMPUTERNAME
        os = 'windows'
        os_release = $release
        os_version = [string]$os.Version
        arch = $env:PROCESSOR_ARCHITECTURE
        python = $null
        user = $env:USERNAME
        is_admin = [bool](Test-Administrator)
        win_edition = $edition
        caption = [string]$os.Caption
    }
}

function Get-MetricsFact {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cs = Get-CimInstance -ClassName Win32_ComputerSystem
    $load = @(Get-CimInstance -ClassName Win32_Processor | ForEach-Object { $_.LoadPercentage } | Where-Object { $_ -ne $null })
    $cpu = 0.0
    if ($load.Count -gt 0) { $cpu = [Math]::Round((($load | Measure-Object -Average).Average), 1) }
    $total = [int64]$os.TotalVisibleMemorySize * 1024
    $available = [int64]$os.FreePhysicalMemory * 1024
    $ramPercent = 0.0
    if ($total -gt 0) { $ramPercent = [Math]::Round(($total - $available) * 100.0 / $total, 1) }
    $swap = $null
    $pages = @(Get-CimInstance -ClassName Win32_PageFileUsage)
    if ($pages.Count -gt 0) {
        # (Win32_PageFileUsage counts in MB; 1048576 spelled out: the grammar the tests parse with misreads "* 1MB")
        $swapTotal = [int64](($pages | Measure-Object -Property AllocatedBaseSize -Sum).Sum) * 1048576
        $swapUsed = [int64](($pages | Measure-Object -Property CurrentUsage -Sum).Sum) * 1048576
        $swapPercent = 0.0
        if ($swapTotal -gt 0) { $swapPercent = [Math]::Round($swapUsed * 100.0 / $swapTotal, 1) }
        $swap = [ordered]@{ total = $swapTotal; used = $swapUsed; percent = $swapPercent }
    }
    $disks = @()
    foreach ($d in @(Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3')) {
        if (-not $d.Size) { continue }
        $size = [int64]$d.Size
        $free = [int64]$d.FreeSpace
        $disks += [ordered]@{
            mount = $d.DeviceID + '\'; device = $d.DeviceID + '\'; fstype = [string]$d.FileSystem
            total = $size; used = $size - $free; free = $free
            percent = [Math]::Round(($size - $free) * 100.0 / $size, 1)
        }
    }
    $boot = Get-UnixTime $os.LastBootUpTime
    $now = Get-UnixTime (Get-Date)
    return [ordered]@{
        cpu_percent = $cpu
        cpu_count = [int]$cs.NumberOfLogicalProcessors
        ram_total = $total
        ram_available = $available
        ram_percent = $ramPercent
        swap = $swap
        disks = $disks
        boot_time = $boot
        uptime_seconds = [Math]::Max(0.0, $now - $boot)
        load_avg = $null
        timestamp = $now
    }
}

function Get-FactEntry([string]$Name, [scriptblock]$Provider) {
    try {
        return [ordered]@{ kind = 'fact'; name = $Name; value = (& $Provider) }
    } catch {
        Write-Warning ("fact {0} not captured: {1}" -f $Name, $_.Exception.Message)
        return $null
    }
}

# ---- main -------------------------------------------------------------------------------------------------

if (-not $OutFile) {
    $OutFile = Join-Path (Get-Location) ('techcare-snapshot-{0}-{1}.json' -f $env:COMPUTERNAME, (Get-Date -Format 'yyyyMMdd-HHmmss'))
}
if (-not (Test-Administrator)) {
    Write-Warning 'Not running as administrator: disk reliability counters will be reported as unknown (needs elevation).'
}

$entries = New-Object System.Collections.ArrayList
$hostFact = Get-FactEntry 'host' { Get-HostFact }
if ($hostFact) { [void]$entries.Add($hostFact) }
$metricsFact = Get-FactEntry 'metrics' { Get-MetricsFact }
if ($metricsFact) { [void]$entries.Add($metricsFact) }

$index = 0
foreach ($name in $Scripts.Keys) {
    $index++
    Write-Progress -Activity 'TechCare capture' -Status $name -PercentComplete ([int](100 * $index / $Scripts.Count))
    [void]$entries.Add((Invoke-ProbeScript -Name $name -Script $Scripts[$name]))
}
foreach ($name in $DriverScripts.Keys) {
    Write-Progress -Activity 'TechCare capture' -Status "drivers: $name" -PercentComplete 100
    [void]$entries.Add((Invoke-ProbeScript -Name "drivers_$name" -Script $DriverScripts[$name] -TimeoutOverride $DriverTimeout))
}
Write-Progress -Activity 'TechCare capture' -Completed

$hostValue = [ordered]@{ hostname = $env:COMPUTERNAME; os = 'windows' }
if ($hostFact) { $hostValue = $hostFact.value }
$snapshot = [ordered]@{
    format = $FormatName
    version = $FormatVersion
    created = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss', [Globalization.CultureInfo]::InvariantCulture) + '+00:00'
    platform = 'windows'
    host = $hostValue
    capture = [ordered]@{ tool = "capture.ps1 $CaptureVersion"; powershell = $PSVersionTable.PSVersion.ToString() }
    entries = @($entries)
}
$json = ConvertTo-Json -InputObject $snapshot -Depth 12
$target = [System.IO.Path]::GetFullPath($OutFile)
$temp = $target + '.partial'
[System.IO.File]::WriteAllText($temp, $json, (New-Object System.Text.UTF8Encoding($false)))
Move-Item -LiteralPath $temp -Destination $target -Force
Write-Output ("TechCare snapshot written: {0}" -f $target)
