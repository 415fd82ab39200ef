import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { Modal } from "./Modal";

// A dialog whose parent passes a new onClose closure on every render, as AlertActionDialog does.
function NoteDialog() {
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState("");
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Open
      </button>
      {open && (
        <Modal title="Confirm" onClose={() => setOpen(false)}>
          <textarea aria-label="Note" value={note} onChange={(e) => setNote(e.target.value)} />
          <button type="button">Cancel</button>
          <button type="submit">Send</button>
        </Modal>
      )}
    </>
  );
}

describe("Modal", () => {
  it("moves focus in once and keeps it in the textarea while typing", () => {
    render(<NoteDialog />);
    const opener = screen.getByRole("button", { name: "Open" });
    opener.focus();
    fireEvent.click(opener);
    const note = screen.getByRole("textbox", { name: "Note" });
    expect(document.activeElement).toBe(note);

    const openerFocused = vi.fn();
    opener.addEventListener("focus", openerFocused);
    for (const text of ["v", "va", "val", "valve"]) fireEvent.change(note, { target: { value: text } });
    expect(openerFocused).not.toHaveBeenCalled(); // focus did not leave the dialog to come back
    expect(document.activeElement).toBe(note);
    expect((note as HTMLTextAreaElement).value).toBe("valve");
  });

  it("wraps Tab inside the dialog, closes on Escape and gives focus back", () => {
    render(<NoteDialog />);
    const opener = screen.getByRole("button", { name: "Open" });
    opener.focus();
    fireEvent.click(opener);
    fireEvent.change(screen.getByRole("textbox", { name: "Note" }), { target: { value: "x" } });

    const send = screen.getByRole("button", { name: "Send" });
    send.focus();
    fireEvent.keyDown(document, { key: "Tab" });
    expect(document.activeElement).toBe(screen.getByRole("textbox", { name: "Note" }));
    fireEvent.keyDown(document, { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(send);

    fireEvent.keyDown(document, { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.activeElement).toBe(opener);
  });
});
