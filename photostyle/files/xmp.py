"""An output's XMP: the content's, carried with care (a new instance, photostyle's history
entry, no raw develop settings).

A result is a new rendition of the content photo, so its XMP

* keeps the content's ``xmpMM:DocumentID`` (the same document, as an editor's export keeps
  it) and every descriptive property (title, keywords, rating, rights, location ...);
* gets a new ``xmpMM:InstanceID``, ``xmp:CreatorTool`` naming photostyle,
  ``xmp:ModifyDate``/``xmp:MetadataDate`` and an ``xmpMM:History`` event (action
  ``converted`` or ``edited``, its software agent photostyle);
* loses the Camera Raw and Lightroom develop settings (``crs:``): they describe how a raw
  file was developed into the content, and applied again to the result by an editor they
  would develop it twice.

A packet that cannot be parsed, or that declares a DOCTYPE or entities (never found in real
XMP, the way XML bombs arrive), is replaced by a fresh one, with a warning.
"""

from __future__ import annotations

import logging
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from io import BytesIO

log = logging.getLogger(__name__)

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
}

#: Namespaces whose properties are removed from outputs (raw develop settings).
DEVELOP_NAMESPACES = (NS["crs"],)

#: Largest XMP packet parsed (Adobe's own limit for a JPEG's main packet is 64 KB; extended
#: XMP is not carried).
MAX_PACKET = 4 * 2**20

_PACKET_WRAPPER = re.compile(rb"<\?xpacket[^>]*\?>")


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def tool_name() -> str:
    """``photostyle X.Y.Z``, the software agent written into outputs."""
    from importlib import metadata

    try:
        return f"photostyle {metadata.version('photostyle')}"
    except metadata.PackageNotFoundError:
        return "photostyle"


def _register(packet: bytes) -> None:
    """Keep the packet's own namespace prefixes when it is written again."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    try:
        for _event, (prefix, uri) in ET.iterparse(BytesIO(packet), events=("start-ns",)):
            if prefix and not re.fullmatch(r"ns\d+", prefix) and uri not in NS.values():
                ET.register_namespace(prefix, uri)
    except (ET.ParseError, ValueError):
        pass


def _parse(packet: bytes | None, source: str) -> ET.Element | None:
    if not packet:
        return None
    if len(packet) > MAX_PACKET:
        log.warning("%s: XMP packet of %d bytes not carried", source, len(packet))
        return None
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        log.warning("%s: XMP packet declares a DOCTYPE or entities; not carried", source)
        return None
    body = _PACKET_WRAPPER.sub(b"", packet).strip().rstrip(b"\0").strip()
    _register(body)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        log.warning("%s: XMP packet cannot be parsed (%s); not carried", source, exc)
        return None
    if root.tag == _q("rdf", "RDF"):  # a packet without the x:xmpmeta wrapper
        meta = ET.Element(_q("x", "xmpmeta"))
        meta.append(root)
        root = meta
    if root.tag != _q("x", "xmpmeta") or root.find(_q("rdf", "RDF")) is None:
        log.warning("%s: XMP packet without rdf:RDF; not carried", source)
        return None
    return root


def _strip(element: ET.Element, namespaces: tuple[str, ...]) -> int:
    """Remove the attributes and children of ``element`` (recursively) in ``namespaces``;
    returns how many properties went."""
    removed = 0
    for key in [k for k in element.attrib if k.startswith(tuple(f"{{{u}" for u in namespaces))]:
        del element.attrib[key]
        removed += 1
    for child in list(element):
        if child.tag.startswith(tuple(f"{{{u}" for u in namespaces)):
            element.remove(child)
            removed += 1
        else:
            removed += _strip(child, namespaces)
    return removed


def _take(descriptions: list[ET.Element], prefix: str, name: str) -> str | None:
    """Remove a simple property (attribute or element form) from every description;
    return its first value."""
    key, value = _q(prefix, name), None
    for description in descriptions:
        if key in description.attrib:
            value = value or description.attrib.pop(key)
        for child in description.findall(key):
            value = value or (child.text or "").strip() or None
            description.remove(child)
    return value


def for_output(packet: bytes | None, *, action: str = "converted",
               when: datetime | None = None, tool: str | None = None,
               source: str = "content") -> bytes:
    """The XMP packet of an output made from a photo whose XMP is ``packet`` (or none).

    Args:
        packet: the content's XMP packet, or ``None``.
        action: the history event's ``stEvt:action`` (``converted``: a new file;
            ``edited``: the file itself rewritten, as in ``photostyle edit``).
        when: the event's time (default: now, local time with its offset).
        tool: the software agent (default: :func:`tool_name`).
        source: the file the packet came from, for warnings.

    Returns:
        A complete packet (``<?xpacket?>`` wrapped, UTF-8).
    """
    when = when or datetime.now(timezone.utc).astimezone()
    stamp = when.isoformat(timespec="seconds")
    tool = tool or tool_name()
    root = _parse(packet, source)
    if root is None:
        _register(b"")
        root = ET.Element(_q("x", "xmpmeta"))
        ET.SubElement(root, _q("rdf", "RDF"))
    rdf = root.find(_q("rdf", "RDF"))
    assert rdf is not None
    removed = _strip(root, DEVELOP_NAMESPACES)
    if removed:
        log.info("%s: %d raw develop setting(s) (crs:) left out of the output's XMP", source,
                 removed)
    descriptions = rdf.findall(_q("rdf", "Description"))
    if not descriptions:
        descriptions = [ET.SubElement(rdf, _q("rdf", "Description"),
                                      {_q("rdf", "about"): ""})]
    document = _take(descriptions, "xmpMM", "DocumentID") or f"xmp.did:{uuid.uuid4()}"
    _take(descriptions, "xmpMM", "InstanceID")
    for name in ("CreatorTool", "ModifyDate", "MetadataDate"):
        _take(descriptions, "xmp", name)
    instance = f"xmp.iid:{uuid.uuid4()}"
    target = descriptions[0]
    target.set(_q("xmpMM", "DocumentID"), document)
    target.set(_q("xmpMM", "InstanceID"), instance)
    target.set(_q("xmp", "CreatorTool"), tool)
    target.set(_q("xmp", "ModifyDate"), stamp)
    target.set(_q("xmp", "MetadataDate"), stamp)
    history = None
    for description in descriptions:
        history = description.find(_q("xmpMM", "History"))
        if history is not None:
            break
    if history is None:
        history = ET.SubElement(target, _q("xmpMM", "History"))
    seq = history.find(_q("rdf", "Seq"))
    if seq is None:
        seq = ET.SubElement(history, _q("rdf", "Seq"))
    event = ET.SubElement(seq, _q("rdf", "li"), {_q("rdf", "parseType"): "Resource"})
    for name, value in (("action", action), ("instanceID", instance), ("when", stamp),
                        ("softwareAgent", tool), ("changed", "/")):
        ET.SubElement(event, _q("stEvt", name)).text = value
    body = ET.tostring(root, encoding="unicode")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + body
            + '\n<?xpacket end="w"?>').encode("utf-8")
