/* date.h - turning the date forms clinical documents use into YYYY-MM-DD.
 *
 * Accepted: ISO 8601 / FHIR dateTime ("2022-08-18", "2022-08-18T10:00:00Z"),
 * HL7 v2 DTM and CDA TS ("20080511103530", "200805111035-0500"), PDF dates
 * ("D:20220818120000+02'00'").  The date is taken as written, without moving
 * it between time zones.  A partial date (year, or year and month) is not a
 * date: it is rejected rather than completed with an invented day. */
#ifndef DP_DATE_H
#define DP_DATE_H

/* Returns 0 and writes "YYYY-MM-DD" into out, or -1. */
int dpi_date_normalize(const char *in, char out[11]);

/* Now, or the instant of an HTTP Date header, as ISO 8601 UTC
 * ("2024-03-14T16:05:00Z"). */
void dpi_iso_now(const char *http_date, char out[32]);

#endif
