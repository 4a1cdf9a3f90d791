// Click a column heading to sort by it, again to reverse. Cells may carry data-v, a number to sort by.
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = Array.from(table.tHead.rows[0].cells);
  var key = function (cell) {
    return cell.dataset.v === undefined ? cell.textContent.trim().toLowerCase() : Number(cell.dataset.v);
  };
  heads.forEach(function (th, col) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.replaceChildren(button);
    button.addEventListener("click", function () {
      var sign = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sign === 1 ? "ascending" : "descending");
      var rows = Array.from(table.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        return sign * (x < y ? -1 : x > y ? 1 : 0);
      });
      rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
    });
  });
});
