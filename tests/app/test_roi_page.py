"""Region-of-interest page (clinicians): set it on the baseline photo, preview on every visit."""

from __future__ import annotations

from _app_util import run_page


def open_page(clinic, use_clinic):
    use_clinic(clinic)
    return run_page("roi", "dr.test", query={"patient": "P-A"})


def test_shows_the_baseline_and_every_photo_of_the_view(clinic, use_clinic):
    at = open_page(clinic, use_clinic)
    assert at.selectbox(key="roi_view").value == "closeup:vertex"
    # the baseline preview, then one preview per photo of the view (4: a repeat at the second visit)
    assert len(at.image) == 1 + 4
    assert at.caption[0].value == "No region set yet: the whole photo is measured."
    assert at.slider(key="roi_x_closeup:vertex").value == (0, 384)
    assert at.slider(key="roi_y_closeup:vertex").value == (0, 288)


def test_saving_the_region_measures_the_view_again_inside_it(fresh_clinic, use_clinic):
    at = open_page(fresh_clinic, use_clinic)
    at.slider(key="roi_x_closeup:vertex").set_value((40, 240))
    at.slider(key="roi_y_closeup:vertex").set_value((20, 220))
    at.run()
    assert at.image[0].captions == ["Baseline photo with the region 200 × 200 px at (40, 20)"]
    at.button(key="save_roi").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [
        "Saved the region of closeup:vertex and measured its 4 photos again."
    ]
    with fresh_clinic.open() as store:
        assert store.current_roi("P-A", "closeup:vertex").box == (40, 20, 200, 200)
        rows = store.timeline("P-A")
        assert len(rows) == 4 and {r.roi for r in rows} == {(40, 20, 200, 200)}
        assert all(len(store.measurements(r.photo_id)) == 2 for r in rows)  # old values kept
    # the page now starts from the saved region
    assert at.slider(key="roi_x_closeup:vertex").value == (40, 240)


def test_not_for_researchers(clinic, use_clinic):
    use_clinic(clinic)
    at = run_page("roi", "res.test")
    assert not at.image and at.error[0].value.startswith("This page is not available")
