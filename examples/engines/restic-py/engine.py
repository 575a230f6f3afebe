#!/usr/bin/env python3
"""
restic-py: an image-level VM backup engine that stores its points with restic, judged by
quiescelab through the engine protocol (JSON-RPC 2.0 on stdin/stdout, LSP framing).

Python 3.9+, standard library only; restic 0.14+ on PATH (or RESTIC_PY_RESTIC=/path).

What it does (README.md in this folder is the tutorial):
- backup: quiesces through the hypervisor's createSnapshot as the policy asks, reads every
  disk of the VmSnapshot (a full: the allocated areas CBT reports, change id '*'; an
  incremental: the areas changed since the parent's change ids, applied over the parent's
  images), keeps each disk as a sparse image file in a staging folder, stores the folder
  with `restic backup` (one restic snapshot per point, tagged with the point id), then
  tells the VSS writers (completeBackup) and removes the VmSnapshot on every path.
  The level it claims per app is what the quiesce outcome proves, nothing more.
- points: `restic snapshots` lists them; opening one restores it with `restic restore`
  into a private folder, and reads come from those files.
- restores: a whole VM (createVm, writeDisk the data, powerOn) or one disk over a
  powered-off VM's disk.

Only stdout carries the protocol; everything else (logs, restic's chatter) goes to stderr
or is captured. Nothing it returns depends on wall-clock time or randomness: point ids
are the VM id and a counter per repository, times are the harness's virtual clock.
"""

import base64
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections import deque

NAME = 'restic-py'
VERSION = '0.1.0'
PROTOCOL_VERSION = 1
# Declared only what this file really does (a property needing another capability is
# "not applicable" for this engine, never a pass).
CAPABILITIES = ['backup', 'incremental', 'copy-backup', 'restore-vm', 'restore-disk']

# quiescelab's convention for the engine's VmSnapshot names: its orphan fault (property 17)
# leaves `quiescelab-<vmId>-crashed-job` as a crashed job of ours would, and a job removes
# the ones it finds before taking its own.
SNAPSHOT_PREFIX = 'quiescelab-'
READ_CHUNK_BYTES = 4 * 1024 * 1024
WRITE_CHUNK_BYTES = 4 * 1024 * 1024
ZERO_BLOCK_BYTES = 64 * 1024
ZERO_BLOCK = bytes(ZERO_BLOCK_BYTES)
MAX_CBT_PAGES = 1_100_000
# A fixed password: the repositories live in a private temporary folder of this process.
RESTIC_PASSWORD = 'restic-py-example-not-a-secret'
POINT_FILE = 'point.json'
POINT_FORMAT = 'restic-py-point/1'
TAG = 'restic-py'

# JSON-RPC error codes (docs/engine-protocol.md; cli/engine-rpc/protocol.ts).
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
ENGINE_EXCEPTION = -32000
HOST_EXCEPTION = -32001

DEBUG = os.environ.get('RESTIC_PY_DEBUG') == '1'


def log(text):
    sys.stderr.write('restic-py: %s\n' % text)
    sys.stderr.flush()


def debug(text):
    if DEBUG:
        log(text)


# ---------------------------------------------------------------------------------------
# The wire: LSP framing, JSON-RPC 2.0 messages, tagged values.
# ---------------------------------------------------------------------------------------

class RpcError(Exception):
    """An error answer to one of the harness's requests."""

    def __init__(self, code, message, data=None):
        Exception.__init__(self, message)
        self.code = code
        self.data = data


class HostError(Exception):
    """A host object's method threw in the harness (data.hostException names it there)."""

    def __init__(self, host_exception, name, message):
        Exception.__init__(self, message)
        self.host_exception = host_exception
        self.name = name


class CallbackRefused(Exception):
    """The harness refused a callback (a bad reference or arguments): a bug here."""


class ProtocolBroken(Exception):
    """stdin ended or carried something that is not a frame."""


def encode(value):
    """A value as the wire carries it: bytes become {"$bytes": base64}."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {'$bytes': base64.b64encode(bytes(value)).decode('ascii')}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value):
    """The value a wire value stands for: {"$bytes"} becomes bytes; {"$ref"} stays a dict
    (a host object's reference, passed back as-is in callbacks)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get('$bytes'), str):
            return base64.b64decode(value['$bytes'], validate=True)
        if '$ref' in value:
            return value
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class Wire:
    """Content-Length framed JSON messages on binary streams."""

    def __init__(self, inp, out):
        self.inp = inp
        self.out = out

    def read(self):
        length = None
        while True:
            line = self.inp.readline(1025)
            if line == b'':
                if length is None:
                    return None
                raise ProtocolBroken('stdin ended inside a header block')
            if line in (b'\r\n', b'\n'):
                if length is None:
                    raise ProtocolBroken('a header block without Content-Length')
                break
            name, _, val = line.decode('ascii').partition(':')
            if name.strip().lower() == 'content-length':
                length = int(val.strip())
        body = self.inp.read(length)
        if len(body) != length:
            raise ProtocolBroken('stdin ended inside a message')
        return json.loads(body.decode('utf-8'))

    def write(self, message):
        body = json.dumps(message, separators=(',', ':'), ensure_ascii=False, allow_nan=False).encode('utf-8')
        self.out.write(b'Content-Length: %d\r\n\r\n' % len(body))
        self.out.write(body)
        self.out.flush()


class Connection:
    """Our end of the connection: answers the harness's requests and makes callbacks.

    A callback is a request of ours; the harness answers it with {value, $clocks}. While
    one is pending, a request from the harness (it makes none then, but may) is queued and
    handled after the current one.
    """

    def __init__(self, wire):
        self.wire = wire
        self.next_id = 1
        self.queued = deque()
        # Each lent clock's virtual time, as the harness last reported it ($clocks).
        self.clocks = {}
        self.callbacks = 0

    def apply_clocks(self, clocks):
        if isinstance(clocks, dict):
            for ref, t in clocks.items():
                self.clocks[ref] = t

    def now(self, clock_ref):
        t = self.clocks.get(clock_ref['$ref'])
        if t is None:
            raise RuntimeError('the harness sent no time for %s' % clock_ref['$ref'])
        return t

    def next_message(self):
        if self.queued:
            return self.queued.popleft()
        return self.wire.read()

    def call(self, method, params):
        """One callback; returns its decoded value (raises HostError, CallbackRefused)."""
        call_id = self.next_id
        self.next_id += 1
        self.callbacks += 1
        self.wire.write({'jsonrpc': '2.0', 'id': call_id, 'method': method, 'params': encode(params)})
        while True:
            message = self.wire.read()
            if message is None:
                raise ProtocolBroken('stdin ended while %s was pending' % method)
            if 'method' in message:
                self.queued.append(message)
                continue
            if message.get('id') != call_id:
                log('an answer to request id %r, which is not pending: ignored' % (message.get('id'),))
                continue
            if 'error' in message:
                error = message['error']
                data = error.get('data') if isinstance(error.get('data'), dict) else {}
                self.apply_clocks(data.get('$clocks'))
                if error.get('code') == HOST_EXCEPTION and isinstance(data.get('hostException'), int):
                    raise HostError(data['hostException'], data.get('name', 'Error'), error.get('message', ''))
                raise CallbackRefused('%s: %s' % (method, error.get('message', '')))
            result = message.get('result') or {}
            self.apply_clocks(result.get('$clocks'))
            return decode(result.get('value'))

    def answer(self, request_id, result):
        self.wire.write({'jsonrpc': '2.0', 'id': request_id, 'result': encode(result)})

    def answer_error(self, request_id, code, message, data=None):
        error = {'code': code, 'message': message[:500]}
        if data is not None:
            error['data'] = data
        self.wire.write({'jsonrpc': '2.0', 'id': request_id, 'error': error})


def ok(value=None):
    return {'ok': True} if value is None else {'ok': True, 'value': value}


def err(error):
    return {'ok': False, 'error': error}


class Hypervisor:
    """The harness's HypervisorPort, reached through `hypervisor/<method>` callbacks."""

    def __init__(self, conn, port_ref):
        self.conn = conn
        self.port = port_ref

    def __getattr__(self, method):
        def call(*args):
            return self.conn.call('hypervisor/' + method, {'port': self.port, 'args': list(args)})
        return call


# ---------------------------------------------------------------------------------------
# restic
# ---------------------------------------------------------------------------------------

class ResticError(Exception):
    pass


def restic_env():
    env = dict(os.environ)
    for name in ('RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE', 'RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_KEY_HINT'):
        env.pop(name, None)
    env['RESTIC_PASSWORD'] = RESTIC_PASSWORD
    # `--time` is read in the local time zone: UTC keeps a snapshot's time the virtual one.
    env['TZ'] = 'UTC'
    return env


class Restic:
    def __init__(self, program):
        self.program = program
        self.env = restic_env()

    def run(self, repo, args, cwd=None):
        argv = [self.program, '--repo', repo, '--no-cache', '--quiet'] + args
        debug('$ ' + ' '.join(argv))
        p = subprocess.run(argv, cwd=cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if p.returncode != 0:
            lines = [l for l in p.stderr.decode('utf-8', 'replace').splitlines() if l.strip()]
            raise ResticError('restic %s failed (exit %d): %s' % (args[0], p.returncode, lines[-1] if lines else 'no message'))
        return p.stdout


def restic_time(us):
    """restic's --time for a virtual time (microseconds since the simulation began, read as 1970 UTC)."""
    days, rest = divmod(us // 1_000_000, 86400)
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    return '%04d-%02d-%02d %02d:%02d:%02d' % (d.year, d.month, d.day, rest // 3600, rest // 60 % 60, rest % 60)


# ---------------------------------------------------------------------------------------
# Disk images: sparse files, one per disk.
# ---------------------------------------------------------------------------------------

def image_name(disk_id):
    """A disk's file name: its id in hex (ids may hold ':' or '/')."""
    return 'disk-%s.img' % disk_id.encode('utf-8').hex()


def blank_image(path, capacity):
    with open(path, 'wb') as f:
        f.truncate(capacity)


def write_skipping_zeros(f, offset, data):
    """Writes the non-zero 64 KiB blocks of `data` at `offset` (the file is blank there); the zero bytes skipped."""
    run_start = -1
    n = len(data)
    skipped = 0
    for b in range(0, n, ZERO_BLOCK_BYTES):
        block = data[b:b + ZERO_BLOCK_BYTES]
        if block == ZERO_BLOCK[:len(block)]:
            skipped += len(block)
            if run_start >= 0:
                f.seek(offset + run_start)
                f.write(data[run_start:b])
            run_start = -1
        elif run_start < 0:
            run_start = b
    if run_start >= 0:
        f.seek(offset + run_start)
        f.write(data[run_start:n])
    return skipped


def image_extents(path, capacity):
    """The data-holding extents of an image: maximal runs of non-zero 64 KiB blocks."""
    out = []
    with open(path, 'rb') as f:
        pos = 0
        while pos < capacity:
            data = f.read(min(READ_CHUNK_BYTES, capacity - pos))
            if not data:
                break
            for b in range(0, len(data), ZERO_BLOCK_BYTES):
                block = data[b:b + ZERO_BLOCK_BYTES]
                if block == ZERO_BLOCK[:len(block)]:
                    continue
                start = pos + b
                if out and out[-1][0] + out[-1][1] == start:
                    out[-1][1] += len(block)
                else:
                    out.append([start, len(block)])
            pos += len(data)
    return [{'startBytes': s, 'lengthBytes': n} for s, n in out]


def read_image(path, offset, length):
    with open(path, 'rb') as f:
        f.seek(offset)
        data = f.read(length)
    return data + bytes(length - len(data))


# ---------------------------------------------------------------------------------------
# The claim: what a point may say it is, from the quiesce outcome and nothing else
# (the rules of quiescelab's engine/backup/claim.ts, which any honest engine follows).
# ---------------------------------------------------------------------------------------

# Apps with no agent of their own: their best level is the file system's.
APPS_WITHOUT_AGENT = ('files',)


def claim_for(outcome, apps, app_scripts):
    reasons = []

    def every(level):
        return {a: level for a in apps}

    if not outcome['requested'] or outcome['mode'] == 'none':
        reasons.append('the guest was not quiesced' if outcome['requested'] else 'application-aware processing is off: a crash-consistent snapshot')
        return {'vm': 'crash', 'apps': every('crash'), 'reasons': reasons}
    if outcome['quiescer'] == 'sync-only':
        reasons.append('the sync-only driver flushes without holding writes: crash-consistent at best')
        return {'vm': 'crash', 'apps': every('crash'), 'reasons': reasons}
    if outcome.get('limitedBy') is not None:
        reasons.append('Tools did not try application quiescing: %s' % outcome['limitedBy'])
    if outcome.get('fault') is not None:
        reasons.append('%s: %s' % (outcome['fault']['kind'], outcome['fault']['reason']))
    claimed = {}
    for app in apps:
        writer = next((w for w in outcome['writers'] if w['app'] == app), None)
        script = app_scripts.get(app)
        script_ran = script is not None and any(
            s['path'] == script and s['argument'] == 'freeze' and s['exitCode'] == 0 for s in outcome['scripts'])
        if outcome['mode'] == 'application' and writer is not None and writer['error'] is None:
            claimed[app] = 'application'
        elif script_ran:
            claimed[app] = 'application'
            reasons.append('%s: quiesced by the freeze script %s' % (app, script))
        else:
            claimed[app] = 'filesystem'
            if writer is not None and writer['error'] is not None:
                reasons.append('%s: writer %s %s (%s)' % (app, writer['writer'], writer['state'], writer['error']))
            elif writer is None and outcome['mode'] == 'application':
                reasons.append('%s: no VSS writer took part' % app)
    return {'vm': 'filesystem', 'apps': claimed, 'reasons': reasons}


def require_shortfall(claim, apps):
    """Under policy require: why this claim is not enough, or None."""
    if claim['vm'] != 'filesystem':
        return 'the guest was not quiesced (claim %s)' % claim['vm']
    short = [a for a in apps if a not in APPS_WITHOUT_AGENT and claim['apps'].get(a) != 'application']
    return None if not short else 'not application-consistent: %s' % ', '.join(short)


# ---------------------------------------------------------------------------------------
# Repositories and points
# ---------------------------------------------------------------------------------------

class BackupFailed(Exception):
    """A backup that ends with a BackupError (returned, not thrown, to the harness)."""

    def __init__(self, error):
        Exception.__init__(self, error.get('reason') or error.get('during') or error['kind'])
        self.error = error


class WriteFailed(Exception):
    """A disk restore's write refused by the hypervisor (args[0]: the DiskRestoreError)."""


def port_failure(during, error):
    return BackupFailed({'kind': 'port', 'during': during, 'error': error})


class Repo:
    """One restic repository (one per store the harness lends), in a private folder."""

    def __init__(self, root):
        self.root = root
        self.repo = os.path.join(root, 'restic')
        self.stage_root = os.path.join(root, 'stage')
        self.restored_root = os.path.join(root, 'restored')
        self.sequence = 0
        # pointId -> {'snapshot': restic id, 'point': point.json}; a cache of what restic holds.
        self.points = {}

    def stage_dir(self, vm_id):
        return os.path.join(self.stage_root, vm_id.encode('utf-8').hex())

    def stage_marker(self, vm_id):
        return self.stage_dir(vm_id) + '.point'


class Engine:
    def __init__(self, conn, restic):
        self.conn = conn
        self.restic = restic
        self.root = tempfile.mkdtemp(prefix='restic-py-')
        self.template = None
        self.session_dir = None
        self.new_session()

    # -- sessions and handles ------------------------------------------------------------

    def new_session(self):
        if self.session_dir is not None:
            shutil.rmtree(self.session_dir, ignore_errors=True)
        self.session_dir = tempfile.mkdtemp(prefix='session-', dir=self.root)
        self.by_store = {}
        self.repos = {}
        self.open_points = {}
        self.handle_count = 0

    def handle(self, prefix):
        self.handle_count += 1
        return '%s-%d' % (prefix, self.handle_count)

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def repo_of(self, handle):
        repo = self.repos.get(handle)
        if repo is None:
            raise KeyError("unknown repository handle '%s'" % handle)
        return repo

    # -- the protocol's methods ----------------------------------------------------------

    def initialize(self, p):
        if p.get('protocolVersion') != PROTOCOL_VERSION:
            raise RpcError(INVALID_PARAMS, 'initialize: protocol version %r (this engine speaks %d)' % (p.get('protocolVersion'), PROTOCOL_VERSION), {'definite': True})
        self.new_session()
        return {'name': NAME, 'version': VERSION, 'protocolVersion': PROTOCOL_VERSION, 'capabilities': CAPABILITIES}

    def shutdown(self, p):
        return None

    def init_repository(self, p):
        store = p['store']['$ref']
        if store in self.by_store:
            return err('a repository exists on %s already' % p['store'].get('description', store))
        # `restic init` calibrates its key derivation (seconds): one template per process,
        # copied for each repository (every copy shares the template's key and id).
        if self.template is None:
            template = os.path.join(self.root, 'template')
            try:
                self.restic.run(template, ['init'])
            except ResticError as e:
                return err(str(e))
            self.template = template
        root = os.path.join(self.session_dir, 'repo-%d' % (len(self.by_store) + 1))
        os.makedirs(root)
        repo = Repo(root)
        shutil.copytree(self.template, repo.repo)
        self.by_store[store] = repo
        return ok()

    def open_repository(self, p):
        repo = self.by_store.get(p['store']['$ref'])
        if repo is None:
            return err('no repository on %s (repository/init first)' % p['store'].get('description', p['store']['$ref']))
        handle = self.handle('repo')
        self.repos[handle] = repo
        return ok(handle)

    def close_repository(self, p):
        if self.repos.pop(p['repo'], None) is None:
            return err("unknown repository handle '%s'" % p['repo'])
        return ok()

    def list_points(self, p):
        try:
            repo = self.repo_of(p['repo'])
            points = self.restic_points(repo)
        except (KeyError, ResticError) as e:
            return err(e.args[0])
        out = []
        for entry in sorted(points.values(), key=lambda e: e['point']['sequence']):
            point = entry['point']
            out.append({
                'id': point['pointId'], 'sequence': point['sequence'], 'parent': point['parent'],
                'committedAtUs': point['committedAtUs'], 'meta': point['stored'],
                'disks': [{'diskId': d['diskId'], 'capacityBytes': d['capacityBytes'], 'mappedBytes': d['mappedBytes']} for d in point['disks']],
            })
        return ok(out)

    def open_point(self, p):
        try:
            repo = self.repo_of(p['repo'])
            folder, point = self.restored(repo, p['pointId'])
        except (KeyError, ResticError) as e:
            return err(e.args[0])
        handle = self.handle('point')
        self.open_points[handle] = {'folder': folder, 'point': point, 'extents': {}}
        return ok({'point': handle, 'disks': [{'diskId': d['diskId'], 'capacityBytes': d['capacityBytes']} for d in point['disks']]})

    def point_disk(self, handle, disk_id):
        opened = self.open_points.get(handle)
        if opened is None:
            raise KeyError("unknown point handle '%s'" % handle)
        disk = next((d for d in opened['point']['disks'] if d['diskId'] == disk_id), None)
        if disk is None:
            raise KeyError('point %s has no disk %s' % (opened['point']['pointId'], disk_id))
        return opened, disk, os.path.join(opened['folder'], disk['file'])

    def point_extents(self, p):
        try:
            opened, disk, path = self.point_disk(p['point'], p['diskId'])
        except KeyError as e:
            return err(e.args[0])
        if disk['diskId'] not in opened['extents']:
            opened['extents'][disk['diskId']] = image_extents(path, disk['capacityBytes'])
        return ok(opened['extents'][disk['diskId']])

    def read_point(self, p):
        try:
            _, disk, path = self.point_disk(p['point'], p['diskId'])
        except KeyError as e:
            return err(e.args[0])
        offset, length = p['offsetBytes'], p['lengthBytes']
        if not (isinstance(offset, int) and isinstance(length, int)) or offset < 0 or length < 0 or offset + length > disk['capacityBytes']:
            return err('read of %r bytes at %r is outside disk %s (%d bytes)' % (length, offset, disk['diskId'], disk['capacityBytes']))
        return ok(read_image(path, offset, length))

    def close_point(self, p):
        self.open_points.pop(p['point'], None)
        return None

    # -- points in restic ----------------------------------------------------------------

    def restic_points(self, repo):
        """The points restic holds: pointId -> {'snapshot', 'point'} (point.json read back when not cached)."""
        listed = json.loads(self.restic.run(repo.repo, ['snapshots', '--json', '--tag', TAG]).decode('utf-8') or '[]')
        out = {}
        for snap in listed or []:
            tags = snap.get('tags') or []
            point_id = next((t[len('point:'):] for t in tags if t.startswith('point:')), None)
            if point_id is None:
                continue
            cached = repo.points.get(point_id)
            if cached is None or not snap['id'].startswith(cached['snapshot']):
                point = json.loads(self.restic.run(repo.repo, ['dump', snap['id'], '/' + POINT_FILE]).decode('utf-8'))
                cached = {'snapshot': snap['id'], 'point': point}
                repo.points[point_id] = cached
            out[point_id] = cached
        return out

    def snapshot_of(self, repo, point_id):
        cached = repo.points.get(point_id)
        if cached is not None:
            return cached['snapshot']
        listed = self.restic_points(repo)
        if point_id not in listed:
            raise KeyError('no point %s in the repository' % point_id)
        return listed[point_id]['snapshot']

    def restored(self, repo, point_id):
        """The point's files as `restic restore` gives them back (restored once per session)."""
        folder = os.path.join(repo.restored_root, point_id.encode('utf-8').hex())
        done = folder + '.done'
        if not os.path.exists(done):
            snapshot = self.snapshot_of(repo, point_id)
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            self.restic.run(repo.repo, ['restore', snapshot, '--target', folder])
            open(done, 'w').close()
        with open(os.path.join(folder, POINT_FILE), 'rb') as f:
            point = json.loads(f.read().decode('utf-8'))
        if point.get('format') != POINT_FORMAT or point.get('pointId') != point_id:
            raise KeyError('restic snapshot of point %s holds no point of this engine' % point_id)
        return folder, point

    # -- backup ----------------------------------------------------------------------------

    def backup(self, p):
        env, params = p['env'], p['params']
        hv = Hypervisor(self.conn, env['port'])
        clock = env['clock']
        repo = self.repos.get(params['repo'])
        if repo is None:
            return err({'kind': 'store', 'reason': "unknown repository handle '%s'" % params['repo']})
        try:
            report = self.backup_once(hv, clock, repo, params)
        except BackupFailed as f:
            return err(f.error)
        # The job ends once its VmSnapshot is removed (after backup_once's finally).
        report['endUs'] = self.conn.now(clock)
        return ok(report)

    def take_snapshot(self, hv, vm, params, start_us):
        name = '%s%s-%d' % (SNAPSHOT_PREFIX, vm['vmId'], start_us)
        policy = params['policy']
        vss_type = 'copy' if params.get('copyOnly') else 'full'
        first = hv.createSnapshot(vm['vmId'], {'name': name, 'quiesce': policy != 'off', 'memory': False, 'quiesceSpec': {'vssBackupType': vss_type}})
        if first['ok']:
            return first['value'], None
        if first['error']['kind'] != 'quiesce':
            raise port_failure('createSnapshot', first['error'])
        fault = first['error']['fault']
        reason = '%s: %s' % (fault['kind'], fault['reason'])
        if policy == 'require':
            raise BackupFailed({'kind': 'quiesce-required', 'reason': reason})
        plain = hv.createSnapshot(vm['vmId'], {'name': name, 'quiesce': False, 'memory': False})
        if not plain['ok']:
            raise port_failure('createSnapshot (crash-consistent fallback)', plain['error'])
        return plain['value'], 'quiescing failed, fell back to a crash-consistent snapshot: %s' % reason

    def backup_once(self, hv, clock, repo, params):
        start_us = self.conn.now(clock)
        got = hv.getVm(params['vmId'])
        if not got['ok']:
            raise port_failure('getVm', got['error'])
        vm = got['value']
        vm_id = vm['vmId']
        # CBT on before the snapshot, so this point has change ids the next incremental can use.
        if any(not d['changeTrackingEnabled'] for d in vm['disks']):
            enabled = hv.enableChangeTracking(vm_id)
            if not enabled['ok']:
                raise port_failure('enableChangeTracking', enabled['error'])
        parent = params.get('parent')
        if parent is not None and parent.get('vmId') != vm_id:
            parent = None
        # A job of ours that crashed may have left its VmSnapshot: remove it first.
        orphans = []
        for s in vm['snapshots']:
            if s['name'].startswith(SNAPSHOT_PREFIX) and hv.removeSnapshot(vm_id, s['snapshotId'])['ok']:
                orphans.append(s['snapshotId'])

        snapshot, fallback = self.take_snapshot(hv, vm, params, start_us)
        snapshot_done_us = self.conn.now(clock)
        stored = False
        failing = True
        try:
            claim = claim_for(snapshot['quiesce'], vm['apps'], params.get('appScripts') or {})
            reasons = ([fallback] if fallback else []) \
                + (['removed %d snapshot(s) a crashed job left behind: %s' % (len(orphans), ', '.join(orphans))] if orphans else []) \
                + claim['reasons']
            if params['policy'] == 'require':
                short = require_shortfall(claim, vm['apps'])
                if short is not None:
                    raise BackupFailed({'kind': 'quiesce-required', 'reason': '%s (%s)' % (short, '; '.join(reasons))})
            stage = self.prepare_stage(repo, vm_id, parent)
            disks = [self.backup_disk(hv, vm_id, snapshot, disk, parent, stage) for disk in vm['disks']]
            read_done_us = self.conn.now(clock)
            sequence = repo.sequence + 1
            point_id = '%s.%d' % (vm_id, sequence)
            writer_states = {w['writer']: w['state'] for w in snapshot['quiesce']['writers']}
            q = snapshot['quiesce']
            timings = {'snapshotUs': snapshot_done_us - start_us, 'readUs': read_done_us - snapshot_done_us}
            if q.get('freezeStartUs') is not None and q.get('thawUs') is not None:
                timings['freezeWindowUs'] = q['thawUs'] - q['freezeStartUs']
            kind = 'full' if parent is None else 'incremental'
            copy_only = bool(params.get('copyOnly'))
            stored_meta = {
                'vmId': vm_id, 'claimedLevel': claim['vm'], 'reasons': reasons, 'writerStates': writer_states, 'timingsUs': timings,
                'attributes': {'engine': NAME, 'kind': kind, 'copyOnly': copy_only, 'snapshotAtUs': snapshot['createdAtUs'], 'appLevels': dict(claim['apps'])},
            }
            change_ids = dict(snapshot['changeIds'])
            point = {
                'format': POINT_FORMAT, 'pointId': point_id, 'sequence': sequence, 'vmId': vm_id,
                'parent': parent['pointId'] if parent else None, 'committedAtUs': read_done_us,
                'changeIds': change_ids, 'stored': stored_meta,
                'disks': [{'diskId': d['diskId'], 'capacityBytes': d['capacityBytes'], 'file': image_name(d['diskId']),
                           'mappedBytes': sum(e['lengthBytes'] for e in image_extents(os.path.join(stage, image_name(d['diskId'])), d['capacityBytes']))}
                          for d in vm['disks']],
            }
            self.commit(repo, vm_id, stage, point, snapshot['createdAtUs'])
            repo.sequence = sequence
            stored = True
            # BackupComplete only now that restic holds the data: writers may truncate logs on it.
            completed = hv.completeBackup(vm_id, snapshot['snapshotId'], True)
            meta = {
                'format': POINT_FORMAT, 'vmId': vm_id, 'vmName': vm['name'], 'guestOs': vm['guestOs'], 'tools': vm['tools'], 'apps': vm['apps'],
                'kind': kind, 'copyOnly': copy_only, 'parent': point['parent'], 'snapshotAtUs': snapshot['createdAtUs'],
                'claimed': dict(claim, reasons=reasons), 'quiesce': snapshot['quiesce'], 'fallback': fallback, 'disks': disks,
                'changeIds': change_ids, 'timings': {'startUs': start_us, 'snapshotDoneUs': snapshot_done_us, 'readDoneUs': read_done_us},
            }
            log('%s backup of %s stored as point %s (claims %s)' % (kind, vm_id, point_id, claim['vm']))
            failing = False
            return {'pointId': point_id, 'meta': meta, 'writersAfterComplete': completed['value'] if completed['ok'] else [],
                    'endUs': self.conn.now(clock), 'stored': stored_meta}
        finally:
            try:
                if not stored:
                    hv.completeBackup(vm_id, snapshot['snapshotId'], False)
                # Removed on every path; one retry for a transient refusal.
                removed = hv.removeSnapshot(vm_id, snapshot['snapshotId'])
                if not removed['ok'] and removed['error']['kind'] != 'unknown-snapshot':
                    hv.removeSnapshot(vm_id, snapshot['snapshotId'])
            except (HostError, CallbackRefused) as e:
                if not failing:
                    raise
                log('cleaning up after a failed backup: %s' % e)

    def prepare_stage(self, repo, vm_id, parent):
        """The staging folder, holding the parent's images for an incremental (else empty)."""
        stage = repo.stage_dir(vm_id)
        marker = repo.stage_marker(vm_id)
        holds = None
        if os.path.exists(marker):
            with open(marker) as f:
                holds = f.read()
            os.remove(marker)  # the stage is being changed: it holds no point until the commit
        if parent is not None and holds == parent['pointId']:
            return stage
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage)
        if parent is not None:
            try:
                self.restic.run(repo.repo, ['restore', self.snapshot_of(repo, parent['pointId']), '--target', stage])
            except (KeyError, ResticError) as e:
                raise BackupFailed({'kind': 'store', 'reason': 'restoring the parent point %s: %s' % (parent['pointId'], e.args[0])})
        return stage

    def backup_disk(self, hv, vm_id, snapshot, disk, parent, stage):
        disk_id, capacity = disk['diskId'], disk['capacityBytes']
        path = os.path.join(stage, image_name(disk_id))
        counters = {'read': 0, 'zero': 0}
        change_id = snapshot['changeIds'].get(disk_id)
        parent_change = parent['changeIds'].get(disk_id) if parent is not None else None

        def report(mode, note):
            return {'diskId': disk_id, 'capacityBytes': capacity, 'mode': mode, 'bytesRead': counters['read'],
                    'bytesSkippedZero': counters['zero'], 'changeId': change_id, 'note': note}

        if parent is not None and change_id is not None and parent_change is not None and os.path.exists(path):
            with open(path, 'r+b') as f:
                f.truncate(capacity)
                failure = self.copy_changed(hv, vm_id, snapshot, disk, f, parent_change, False, counters)
            if failure is None:
                return report('incremental', None)
            if failure['kind'] != 'cbt':
                raise port_failure('queryChangedDiskAreas', failure)
            # The parent's change id is void (CBT was reset): this disk is read in full.
            blank_image(path, capacity)
            with open(path, 'r+b') as f:
                again = self.copy_changed(hv, vm_id, snapshot, disk, f, '*', True, counters)
            if again is not None:
                raise port_failure('queryChangedDiskAreas', again)
            return report('full-after-cbt-reset', 'CBT query refused (%s): read in full' % failure.get('reason', failure['kind']))
        blank_image(path, capacity)
        note = None if parent is None else 'no usable change id for %s: read in full' % disk_id
        with open(path, 'r+b') as f:
            if change_id is not None:
                failure = self.copy_changed(hv, vm_id, snapshot, disk, f, '*', True, counters)
                if failure is not None:
                    raise port_failure('queryChangedDiskAreas', failure)
                return report('full-cbt', note)
            self.copy_range(hv, vm_id, snapshot, disk, f, 0, capacity, True, counters)
            return report('full-scan', note)

    def copy_range(self, hv, vm_id, snapshot, disk, f, start, length, skip_zero, counters):
        end = start + length
        pos = start
        while pos < end:
            n = min(READ_CHUNK_BYTES, end - pos)
            got = hv.readSnapshotDisk(vm_id, snapshot['snapshotId'], disk['diskId'], pos, n)
            if not got['ok']:
                raise port_failure('readSnapshotDisk', got['error'])
            data = got['value']
            if len(data) != n:
                raise port_failure('readSnapshotDisk', {'kind': 'invalid-argument', 'field': 'lengthBytes', 'reason': 'asked %d bytes, got %d' % (n, len(data))})
            counters['read'] += n
            if skip_zero:
                counters['zero'] += write_skipping_zeros(f, pos, data)
            else:
                # Zeros are data in an incremental: they override the parent's content.
                f.seek(pos)
                f.write(data)
            pos += n

    def copy_changed(self, hv, vm_id, snapshot, disk, f, change_id, skip_zero, counters):
        """Pages through QueryChangedDiskAreas and copies each area; the port error of a refused query, or None."""
        offset = 0
        pages = 0
        while offset < disk['capacityBytes']:
            pages += 1
            if pages > MAX_CBT_PAGES:
                raise RuntimeError('more than %d CBT pages for %s' % (MAX_CBT_PAGES, disk['diskId']))
            page = hv.queryChangedDiskAreas(vm_id, snapshot['snapshotId'], disk['diskId'], offset, change_id)
            if not page['ok']:
                return page['error']
            for area in page['value']['changedAreas']:
                self.copy_range(hv, vm_id, snapshot, disk, f, area['startBytes'], area['lengthBytes'], skip_zero, counters)
            nxt = page['value']['startOffsetBytes'] + page['value']['lengthBytes']
            if nxt <= offset:
                raise RuntimeError('CBT page did not advance at %d on %s' % (offset, disk['diskId']))
            offset = nxt
        return None

    def commit(self, repo, vm_id, stage, point, snapshot_at_us):
        """Stores the staged images and point.json as one restic snapshot tagged with the point id."""
        keep = set(d['file'] for d in point['disks'])
        for name in os.listdir(stage):
            if name != POINT_FILE and name not in keep:
                os.remove(os.path.join(stage, name))
        with open(os.path.join(stage, POINT_FILE), 'wb') as f:
            f.write(json.dumps(point, sort_keys=True, indent=1).encode('utf-8'))
        try:
            # --force: VM images change in place; never trust file metadata to skip one.
            out = self.restic.run(repo.repo, [
                'backup', '--json', '--force', '--host', NAME, '--time', restic_time(snapshot_at_us),
                '--tag', '%s,point:%s,vm:%s' % (TAG, point['pointId'], vm_id), '.'], cwd=stage)
        except ResticError as e:
            raise BackupFailed({'kind': 'store', 'reason': str(e)})
        summary = None
        for line in out.decode('utf-8', 'replace').splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get('message_type') == 'summary':
                summary = message
        if summary is None or not summary.get('snapshot_id'):
            raise BackupFailed({'kind': 'store', 'reason': 'restic backup reported no snapshot'})
        # The summary names the snapshot by its short id, which restic accepts wherever an id goes.
        repo.points[point['pointId']] = {'snapshot': summary['snapshot_id'], 'point': point}
        with open(repo.stage_marker(vm_id), 'w') as f:
            f.write(point['pointId'])

    # -- restores ------------------------------------------------------------------------

    def restore_vm(self, p):
        env, params = p['env'], p['params']
        hv = Hypervisor(self.conn, env['port'])
        start_us = self.conn.now(env['clock'])
        try:
            folder, point = self.restored(self.repo_of(params['repo']), params['pointId'])
        except (KeyError, ResticError) as e:
            return err({'kind': 'source', 'reason': e.args[0]})
        spec = params['spec']
        new_vm = {'name': spec['name'], 'guestOs': spec['guestOs'], 'tools': spec['tools'], 'apps': spec['apps'],
                  'disks': [{'capacityBytes': d['capacityBytes']} for d in point['disks']]}
        if spec.get('flags') is not None:
            new_vm['flags'] = spec['flags']
        created = hv.createVm(new_vm)
        if not created['ok']:
            return err({'kind': 'port', 'during': 'createVm', 'error': created['error']})
        vm = created['value']
        chunk = spec.get('writeChunkBytes') or WRITE_CHUNK_BYTES
        written = 0
        for i, disk in enumerate(point['disks']):
            if i >= len(vm['disks']):
                return err({'kind': 'source', 'reason': 'the new VM has no disk %d' % i})
            target = vm['disks'][i]['diskId']
            path = os.path.join(folder, disk['file'])
            # A new VM's disks are blank: only the data-holding extents are written.
            for extent in image_extents(path, disk['capacityBytes']):
                pos, end = extent['startBytes'], extent['startBytes'] + extent['lengthBytes']
                while pos < end:
                    n = min(chunk, end - pos)
                    w = hv.writeDisk(vm['vmId'], target, pos, read_image(path, pos, n))
                    if not w['ok']:
                        return err({'kind': 'port', 'during': 'writeDisk', 'error': w['error']})
                    written += n
                    pos += n
        if spec.get('powerOn') is not False:
            on = hv.powerOn(vm['vmId'])
            if not on['ok']:
                return err({'kind': 'port', 'during': 'powerOn', 'error': on['error']})
        end_us = self.conn.now(env['clock'])
        return ok({'vmId': vm['vmId'], 'bytesRead': written, 'bytesWritten': written, 'startUs': start_us, 'endUs': end_us, 'rtoUs': end_us - start_us})

    def restore_disk(self, p):
        env, params = p['env'], p['params']
        hv = Hypervisor(self.conn, env['port'])
        start_us = self.conn.now(env['clock'])
        try:
            folder, point = self.restored(self.repo_of(params['repo']), params['pointId'])
        except (KeyError, ResticError) as e:
            return err(e.args[0])
        disk = next((d for d in point['disks'] if d['diskId'] == params['diskId']), None)
        if disk is None:
            return err({'kind': 'mismatch', 'reason': 'the point has no disk %s' % params['diskId']})
        target = params['target']
        got = hv.getVm(target['vmId'])
        if not got['ok']:
            return err({'kind': 'port', 'during': 'getVm', 'error': got['error']})
        vm = got['value']
        target_disk = next((d for d in vm['disks'] if d['diskId'] == target['diskId']), None)
        if target_disk is None:
            return err({'kind': 'mismatch', 'reason': '%s has no disk %s' % (target['vmId'], target['diskId'])})
        if target_disk['capacityBytes'] != disk['capacityBytes']:
            return err({'kind': 'mismatch', 'reason': 'disk sizes differ: %d in the point, %d on %s' % (disk['capacityBytes'], target_disk['capacityBytes'], target['diskId'])})
        if vm['powerState'] != 'poweredOff':
            return err({'kind': 'mismatch', 'reason': '%s must be powered off' % target['vmId']})
        path = os.path.join(folder, disk['file'])
        counts = {'read': 0, 'written': 0}

        def write(offset, data):
            w = hv.writeDisk(target['vmId'], target['diskId'], offset, data)
            if not w['ok']:
                raise WriteFailed({'kind': 'port', 'during': 'writeDisk', 'error': w['error']})
            counts['written'] += len(data)

        try:
            pos = 0
            capacity = disk['capacityBytes']
            for extent in image_extents(path, capacity) + [{'startBytes': capacity, 'lengthBytes': 0}]:
                # Zeros over what the point does not hold: the target disk's old content must go.
                while pos < extent['startBytes']:
                    n = min(WRITE_CHUNK_BYTES, extent['startBytes'] - pos)
                    write(pos, bytes(n))
                    pos += n
                at, end = extent['startBytes'], extent['startBytes'] + extent['lengthBytes']
                while at < end:
                    n = min(WRITE_CHUNK_BYTES, end - at)
                    write(at, read_image(path, at, n))
                    counts['read'] += n
                    at += n
                pos = max(pos, end)
        except WriteFailed as f:
            return err(f.args[0])
        return ok({'bytesRead': counts['read'], 'bytesWritten': counts['written'], 'durationUs': self.conn.now(env['clock']) - start_us})


# The harness's requests: method -> handler. Anything else is "method not found".
def routes(engine):
    return {
        'initialize': engine.initialize,
        'shutdown': engine.shutdown,
        'repository/init': engine.init_repository,
        'repository/open': engine.open_repository,
        'repository/close': engine.close_repository,
        'backup': engine.backup,
        'points/list': engine.list_points,
        'point/open': engine.open_point,
        'point/extents': engine.point_extents,
        'point/read': engine.read_point,
        'point/close': engine.close_point,
        'restore/vm': engine.restore_vm,
        'restore/disk': engine.restore_disk,
    }


def serve(conn, engine):
    table = routes(engine)
    while True:
        message = conn.next_message()
        if message is None:
            return
        if 'method' not in message:
            log('an answer to request id %r, which is not pending: ignored' % (message.get('id'),))
            continue
        method = message['method']
        request_id = message.get('id')
        params = message.get('params')
        if request_id is None:
            continue  # a notification ($/cancelRequest): nothing to answer
        if not isinstance(params, dict):
            conn.answer_error(request_id, INVALID_PARAMS, '%s: params must be an object' % method, {'definite': True})
            continue
        handler = table.get(method)
        if handler is None:
            conn.answer_error(request_id, METHOD_NOT_FOUND, "unknown method '%s' (restic-py supports: %s)" % (method[:60], ', '.join(sorted(table))), {'definite': True})
            continue
        conn.apply_clocks(params.pop('$clocks', None))
        before = conn.callbacks
        try:
            result = handler(decode(params))
        except RpcError as e:
            conn.answer_error(request_id, e.code, str(e), e.data)
        except HostError as e:
            conn.answer_error(request_id, ENGINE_EXCEPTION, '%s: %s: %s' % (method, e.name, e), {'hostException': e.host_exception, 'definite': False})
        except ProtocolBroken:
            raise
        except Exception as e:  # a bug here: say so, and keep serving
            log('%s failed:\n%s' % (method, traceback.format_exc()))
            conn.answer_error(request_id, ENGINE_EXCEPTION, '%s: %s: %s' % (method, type(e).__name__, e), {'definite': conn.callbacks == before})
        else:
            conn.answer(request_id, result)


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # stdout is the protocol's: a stray print() must not land there.
    sys.stdout = sys.stderr
    program = os.environ.get('RESTIC_PY_RESTIC') or shutil.which('restic')
    if program is None:
        log('restic not found on PATH (install restic, or set RESTIC_PY_RESTIC)')
        return 3
    # Killed politely (SIGTERM): clean the temporary folder on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    conn = Connection(Wire(stdin, stdout))
    engine = Engine(conn, Restic(program))
    try:
        serve(conn, engine)
    except ProtocolBroken as e:
        log('the connection broke: %s' % e)
        return 4
    except BrokenPipeError:
        return 4
    finally:
        engine.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
