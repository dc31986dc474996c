-- Every day of the training table counted again (one read of three of its columns): after an
-- erasure, which may remove rows on any day, and once for a warehouse filled before the day
-- counts existed. In one transaction: the checks never see the table half counted.
{%- from 'macros/training_day_counts.sql' import recount_all_days with context %}
BEGIN TRANSACTION;
{{ recount_all_days() }}
COMMIT TRANSACTION;
