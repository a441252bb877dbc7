-- Which replica decided each stage: shows how the work was shared, and helps an incident review.
ALTER TABLE stage_firings ADD COLUMN decided_by text;
