'''python-dbusmock template: dbusmock's bluez5 template plus a radio, for testing the BLE scanner.

Loads dbusmock's own `bluez5` template (org.bluez on the system bus, the ObjectManager at /, the agent
manager at /org/bluez) and adds what a scanner test needs, the way bluetoothd behaves on a real box:

  - the adapter (template parameter "adapter", default hci0) is announced UNPOWERED when the mock
    starts, as bluetoothd does without AutoEnable: a scanner has to power it on itself;
  - Adapter1.SetDiscoveryFilter / StartDiscovery / StopDiscovery with BlueZ's errors: StartDiscovery
    answers org.bluez.Error.NotReady while unpowered and InProgress while discovering; no filter is
    needed first (the template's version raises KeyError without one); the filter is not published as
    a property;
  - "radios" (org.aisle.Harness.AddRadio) are devices in the air. A radio advertises on its own
    schedule, but only while the adapter is powered and discovering: its first advertisement of a
    discovery session makes the Device1 object appear (ObjectManager.InterfacesAdded carrying
    Address, AddressType, RSSI, ManufacturerData a{qv}, ServiceData a{sv}, ...), each later one is a
    PropertiesChanged on the device with RSSI and whatever data changed. Without DuplicateData=true
    in the filter only the first advertisement of a session is reported (the controller's duplicate
    filter), as in BlueZ;
  - killing the mock process is bluetoothd crashing (the org.bluez name goes away, no
    InterfacesRemoved); starting it again gives a bare, unpowered adapter with no devices.

The device objects are made with dbusmock's AddObject and the signals built here with the right D-Bus
types (the template's AddDevice fixes AddressType=public and RSSI=-79 and types ManufacturerData as
aa{qv}; UpdateProperties cannot carry a dictionary).

Harness methods (interface org.aisle.Harness on /), JSON strings in and out so that any client can
drive them without building nested variants:
  AddRadio(s spec) -> o       spec: {"address", "addressType": "public"|"random", "intervalMs",
                              "rssi": int or [int, ...] (cycled), "manufacturerData": {"<company>": hex},
                              "serviceData": {"<uuid>": hex}, "uuids": [..], "txPower", "name",
                              "flags": int}
  UpdateRadio(s spec)         same keys, merged into the radio with that address
  RemoveRadio(s address)      the radio stops; its device object is removed (InterfacesRemoved)
  Advertise(s address) -> b   one advertisement now (false: the adapter is not discovering)
  RemoveAdapter()             the adapter disappears (InterfacesRemoved), as when a dongle is pulled
  AddAdapter()                it comes back, unpowered
  State() -> s                {"powered", "discovering", "filter", "starts", "advertisements",
                              "reported", "devices"}
'''

import json
import time

import dbus
import dbus.service
from gi.repository import GLib

from dbusmock import OBJECT_MANAGER_IFACE, mockobject
from dbusmock.templates import bluez5

BUS_NAME = bluez5.BUS_NAME
MAIN_OBJ = bluez5.MAIN_OBJ
SYSTEM_BUS = True
IS_OBJECT_MANAGER = True

HARNESS = 'org.aisle.Harness'
ADAPTER = 'org.bluez.Adapter1'
DEVICE = 'org.bluez.Device1'
PROPS = dbus.PROPERTIES_IFACE
TICK_MS = 5


def _v(value):
    return value


def _bool(b):
    return dbus.Boolean(bool(b), variant_level=1)


def _bytes(hexstr):
    return dbus.Array([dbus.Byte(b) for b in bytes.fromhex(hexstr)], signature='y', variant_level=1)


def _mfr(d):
    return dbus.Dictionary({dbus.UInt16(int(k)): _bytes(v) for k, v in d.items()}, signature='qv', variant_level=1)


def _svc(d):
    return dbus.Dictionary({dbus.String(k): _bytes(v) for k, v in d.items()}, signature='sv', variant_level=1)


def _no_strings():
    return dbus.Array([], signature='s')


class Radio:
    def __init__(self, spec):
        self.spec = {}
        self.update(spec)
        self.next_at = time.monotonic()
        self.step = 0
        self.last = {}

    def update(self, spec):
        self.spec.update(spec)
        r = self.spec.get('rssi', -60)
        self.rssi = r if isinstance(r, list) else [r]
        self.interval = max(1, int(self.spec.get('intervalMs', 100))) / 1000.0

    @property
    def address(self):
        return self.spec['address']


def _adapter_path(mock):
    return '/org/bluez/' + mock.aisle_adapter


def _adapter(mock):
    return mockobject.objects.get(_adapter_path(mock))


def _device_path(mock, address):
    return _adapter_path(mock) + '/dev_' + address.replace(':', '_').upper()


def _emit_props(obj, iface, changed):
    obj.EmitSignal(PROPS, 'PropertiesChanged', 'sa{sv}as',
                   [iface, dbus.Dictionary(changed, signature='sv'), _no_strings()])


def _set_filter(adapter, flt):
    adapter.aisle_filter = {str(k): (bool(v) if isinstance(v, dbus.Boolean) else str(v) if isinstance(v, dbus.String) else int(v) if isinstance(v, (dbus.Int16, dbus.UInt16, dbus.Int32)) else None) for k, v in flt.items()}


def _start_discovery(adapter):
    p = adapter.props[ADAPTER]
    if not p['Powered']:
        raise dbus.exceptions.DBusException('Resource Not Ready', name='org.bluez.Error.NotReady')
    if p['Discovering']:
        raise dbus.exceptions.DBusException('Operation already in progress', name='org.bluez.Error.InProgress')
    p['Discovering'] = _bool(True)
    adapter.aisle_starts += 1
    adapter.aisle_reported = set()
    _emit_props(adapter, ADAPTER, {'Discovering': _bool(True)})


def _stop_discovery(adapter):
    p = adapter.props[ADAPTER]
    if not p['Discovering']:
        raise dbus.exceptions.DBusException('No discovery started', name='org.bluez.Error.Failed')
    p['Discovering'] = _bool(False)
    _emit_props(adapter, ADAPTER, {'Discovering': _bool(False)})


def _remove_device(adapter, path):
    if path not in mockobject.objects:
        raise dbus.exceptions.DBusException('Does Not Exist', name='org.bluez.Error.DoesNotExist')
    _drop_device(path)


def _drop_device(path):
    root = mockobject.objects['/']
    root.RemoveObject(path)
    root.EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesRemoved', 'oas',
                    [dbus.ObjectPath(path), dbus.Array([DEVICE], signature='s')])


def _add_adapter(mock):
    path = _adapter_path(mock)
    n = int(''.join(c for c in mock.aisle_adapter if c.isdigit()) or '0')
    props = {
        'Address': dbus.String(f'00:1A:7D:DA:71:{n:02X}', variant_level=1),
        'AddressType': dbus.String('public', variant_level=1),
        'Name': dbus.String('aisle-test', variant_level=1),
        'Alias': dbus.String('aisle-test', variant_level=1),
        'Class': dbus.UInt32(0, variant_level=1),
        'Powered': _bool(False),
        'Discoverable': _bool(False),
        'DiscoverableTimeout': dbus.UInt32(180, variant_level=1),
        'Pairable': _bool(True),
        'PairableTimeout': dbus.UInt32(0, variant_level=1),
        'Discovering': _bool(False),
        'UUIDs': dbus.Array([], signature='s', variant_level=1),
        'Modalias': dbus.String('usb:v1D6Bp0246d0542', variant_level=1),
        'Roles': dbus.Array(['central', 'peripheral'], signature='s', variant_level=1),
    }
    mock.AddObject(path, ADAPTER, props, [
        ('SetDiscoveryFilter', 'a{sv}', '', _set_filter),
        ('StartDiscovery', '', '', _start_discovery),
        ('StopDiscovery', '', '', _stop_discovery),
        ('RemoveDevice', 'o', '', _remove_device),
    ])
    adapter = mockobject.objects[path]
    adapter.aisle_filter = {}
    adapter.aisle_starts = 0
    adapter.aisle_reported = set()
    mock.EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesAdded', 'oa{sa{sv}}',
                    [dbus.ObjectPath(path), dbus.Dictionary({ADAPTER: dbus.Dictionary(props, signature='sv')}, signature='sa{sv}')])


def _device_props(mock, radio, rssi):
    s = radio.spec
    props = {
        'Address': dbus.String(s['address'], variant_level=1),
        'AddressType': dbus.String(s.get('addressType', 'public'), variant_level=1),
        'Alias': dbus.String(s.get('name') or s['address'].replace(':', '-'), variant_level=1),
        'Paired': _bool(False),
        'Bonded': _bool(False),
        'Trusted': _bool(False),
        'Blocked': _bool(False),
        'LegacyPairing': _bool(False),
        'Connected': _bool(False),
        'ServicesResolved': _bool(False),
        'UUIDs': dbus.Array(s.get('uuids', []), signature='s', variant_level=1),
        'Adapter': dbus.ObjectPath(_adapter_path(mock), variant_level=1),
        'RSSI': dbus.Int16(rssi, variant_level=1),
    }
    if s.get('name'):
        props['Name'] = dbus.String(s['name'], variant_level=1)
    if 'txPower' in s:
        props['TxPower'] = dbus.Int16(s['txPower'], variant_level=1)
    if s.get('manufacturerData'):
        props['ManufacturerData'] = _mfr(s['manufacturerData'])
    if s.get('serviceData'):
        props['ServiceData'] = _svc(s['serviceData'])
    if 'flags' in s:
        props['AdvertisingFlags'] = _bytes(f"{int(s['flags']):02x}")
    return props


def _advertise(mock, radio):
    '''One advertisement of a radio; False when the adapter is not listening.'''
    adapter = _adapter(mock)
    if adapter is None:
        return False
    p = adapter.props[ADAPTER]
    if not (p['Powered'] and p['Discovering']):
        return False
    mock.aisle_advertisements += 1
    rssi = radio.rssi[radio.step % len(radio.rssi)]
    radio.step += 1
    path = _device_path(mock, radio.address)
    duplicates = bool(adapter.aisle_filter.get('DuplicateData', False))
    if path not in mockobject.objects:
        props = _device_props(mock, radio, rssi)
        mock.AddObject(path, DEVICE, props, [
            ('Connect', '', '', ''), ('Disconnect', '', '', ''), ('Pair', '', '', ''), ('CancelPairing', '', '', ''),
        ])
        mock.EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesAdded', 'oa{sa{sv}}',
                        [dbus.ObjectPath(path), dbus.Dictionary({DEVICE: dbus.Dictionary(props, signature='sv')}, signature='sa{sv}')])
        radio.last = {'m': json.dumps(radio.spec.get('manufacturerData')), 's': json.dumps(radio.spec.get('serviceData')), 't': radio.spec.get('txPower')}
        adapter.aisle_reported.add(path)
        mock.aisle_reported += 1
        return True
    if not duplicates and path in adapter.aisle_reported:
        return True  # heard, but the controller filters duplicates
    adapter.aisle_reported.add(path)
    dev = mockobject.objects[path]
    changed = {'RSSI': dbus.Int16(rssi, variant_level=1)}
    dev.props[DEVICE]['RSSI'] = changed['RSSI']
    m = json.dumps(radio.spec.get('manufacturerData'))
    if radio.spec.get('manufacturerData') and m != radio.last.get('m'):
        changed['ManufacturerData'] = dev.props[DEVICE]['ManufacturerData'] = _mfr(radio.spec['manufacturerData'])
    s = json.dumps(radio.spec.get('serviceData'))
    if radio.spec.get('serviceData') and s != radio.last.get('s'):
        changed['ServiceData'] = dev.props[DEVICE]['ServiceData'] = _svc(radio.spec['serviceData'])
    if 'txPower' in radio.spec and radio.spec['txPower'] != radio.last.get('t'):
        changed['TxPower'] = dev.props[DEVICE]['TxPower'] = dbus.Int16(radio.spec['txPower'], variant_level=1)
    radio.last = {'m': m, 's': s, 't': radio.spec.get('txPower')}
    _emit_props(dev, DEVICE, changed)
    mock.aisle_reported += 1
    return True


def _tick(mock):
    now = time.monotonic()
    for radio in list(mock.aisle_radios.values()):
        n = 0
        while radio.next_at <= now and n < 50:
            _advertise(mock, radio)
            radio.next_at += radio.interval
            n += 1
        if radio.next_at <= now:  # far behind: skip ahead rather than burst
            radio.next_at = now + radio.interval
    return True


def load(mock, parameters):
    bluez5.load(mock, parameters)
    mock.aisle_adapter = str(parameters.get('adapter', 'hci0'))
    mock.aisle_radios = {}
    mock.aisle_advertisements = 0
    mock.aisle_reported = 0
    _add_adapter(mock)
    GLib.timeout_add(TICK_MS, _tick, mock)


@dbus.service.method(HARNESS, in_signature='s', out_signature='o')
def AddRadio(self, spec):
    s = json.loads(spec)
    radio = Radio(s)
    radio.next_at = time.monotonic() + float(s.get('offsetMs', 0)) / 1000.0
    self.aisle_radios[radio.address] = radio
    return dbus.ObjectPath(_device_path(self, radio.address))


@dbus.service.method(HARNESS, in_signature='s', out_signature='')
def UpdateRadio(self, spec):
    s = json.loads(spec)
    self.aisle_radios[s['address']].update(s)


@dbus.service.method(HARNESS, in_signature='s', out_signature='')
def RemoveRadio(self, address):
    self.aisle_radios.pop(address, None)
    path = _device_path(self, address)
    if path in mockobject.objects:
        _drop_device(path)


@dbus.service.method(HARNESS, in_signature='s', out_signature='b')
def Advertise(self, address):
    return _advertise(self, self.aisle_radios[address])


@dbus.service.method(HARNESS, in_signature='', out_signature='')
def RemoveAdapter(self):
    path = _adapter_path(self)
    for p in [k for k in mockobject.objects if k.startswith(path + '/')]:
        self.RemoveObject(p)
    self.RemoveObject(path)
    self.EmitSignal(OBJECT_MANAGER_IFACE, 'InterfacesRemoved', 'oas',
                    [dbus.ObjectPath(path), dbus.Array([ADAPTER], signature='s')])


@dbus.service.method(HARNESS, in_signature='', out_signature='')
def AddAdapter(self):
    _add_adapter(self)


@dbus.service.method(HARNESS, in_signature='', out_signature='s')
def State(self):
    adapter = _adapter(self)
    if adapter is None:
        return json.dumps({'adapter': False})
    p = adapter.props[ADAPTER]
    return json.dumps({
        'adapter': True,
        'powered': bool(p['Powered']),
        'discovering': bool(p['Discovering']),
        'filter': adapter.aisle_filter,
        'starts': adapter.aisle_starts,
        'advertisements': self.aisle_advertisements,
        'reported': self.aisle_reported,
        'devices': len([k for k in mockobject.objects if k.startswith(_adapter_path(self) + '/')]),
    })
