"""What a command does when it starts: searches mark items searched, a Downloaded*Scan
imports a download (its items get files, it leaves the queue), the rest are no-ops.

Each effect returns the command's completion message, or raises ValueError to fail it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .commands import Command
from .library import Item, now

if TYPE_CHECKING:
    from .emulator import ArrEmulator


def execute(emu: ArrEmulator, command: Command) -> str:
    """Run ``command``'s effect on ``emu``; the completion message."""
    flavor = emu.flavor
    name = command.name
    if name == flavor.search_command:
        ids = command.body.get(flavor.items_key) or []
        return _search(emu, command, [_existing(emu, i) for i in ids])
    if name == flavor.parent_search_command or name == "SeasonSearch":
        parent_id = command.body.get(flavor.parent_key or "")
        if parent_id not in emu.library.parents:
            raise ValueError(
                f"{(flavor.parent or '').capitalize()} with ID {parent_id} does not exist"
            )
        items = [i for i in emu.library.items_of(parent_id) if i.monitored]
        if name == "SeasonSearch":
            items = [i for i in items if i.season == command.body.get("seasonNumber")]
        return _search(emu, command, items)
    if name == flavor.missing_command:
        return _search(emu, command, emu.library.missing(monitored=True))
    if name == flavor.cutoff_command:
        return _search(emu, command, emu.library.cutoff_unmet(monitored=True))
    if name == flavor.import_command:
        return _import(emu, command)
    return "Completed"


def _existing(emu: ArrEmulator, item_id: int) -> Item:
    item = emu.library.item(item_id)
    if item is None:
        raise ValueError(f"{emu.flavor.item.capitalize()} with ID {item_id} does not exist")
    return item


def _search(emu: ArrEmulator, command: Command, items: list[Item]) -> str:
    moment = now()
    for item in items:
        item.last_search = moment
    emu.searches.append(
        {
            "commandId": command.id,
            "name": command.name,
            "ids": [i.id for i in items],
            "trigger": command.trigger,
        }
    )
    return (
        f"Search completed. {len(items)} reports downloaded."
        if items
        else "Search completed. 0 reports downloaded."
    )


def _import(emu: ArrEmulator, command: Command) -> str:
    download_id = str(command.body.get("downloadClientId") or "").upper()
    path = command.body.get("path")
    records = [r for r in emu.records.values() if download_id and r.download_id == download_id]
    item_ids = {r.item_id for r in records if r.item_id is not None}
    item_ids.update(emu.links.get(download_id, []) if download_id else [])
    matched = bool(records) or download_id in emu.links
    emu.imports.append(
        {
            "commandId": command.id,
            "downloadClientId": download_id or None,
            "path": path,
            "matched": matched,
            "ids": sorted(item_ids),
        }
    )
    if not matched:
        return f"Unable to find a download for {download_id or path}: nothing imported"
    for item_id in sorted(item_ids):
        item = emu.library.item(item_id)
        if item is not None:
            item.has_file = True
            item.cutoff_unmet = False
    title = records[0].title if records else download_id
    emu.journal.add_history(emu.flavor.imported_event, download_id, title, sorted(item_ids))
    for record in records:
        emu.records.pop(record.id, None)
    emu.hidden.add(download_id)
    return f"Imported {len(item_ids)} {emu.flavor.item}(s) from {download_id}"
